package main

import (
	"github.com/locksmithx/locksmith/plugins/consul"
	"github.com/locksmithx/locksmith/plugins/file"
	"github.com/locksmithx/locksmith/plugins/redis"
	"github.com/locksmithx/locksmith/sdk"
)

func init() {
	builtins["consul"] = func() sdk.Backend { return consul.New() }
	builtins["file"] = func() sdk.Backend { return file.New() }
	builtins["redis"] = func() sdk.Backend { return redis.New() }
}
