package main

import (
	"github.com/locksmithx/locksmith/plugins/audit"
	"github.com/locksmithx/locksmith/plugins/cache"
	"github.com/locksmithx/locksmith/plugins/consul"
	"github.com/locksmithx/locksmith/plugins/crypto"
	"github.com/locksmithx/locksmith/plugins/file"
	"github.com/locksmithx/locksmith/plugins/rbac"
	"github.com/locksmithx/locksmith/plugins/redis"
	"github.com/locksmithx/locksmith/sdk"
)

// middlewareBuiltins are the middleware the locksmith binary serves to
// itself, like builtins for backends.
var middlewareBuiltins = map[string]func() sdk.Middleware{}

func init() {
	builtins["consul"] = func() sdk.Backend { return consul.New() }
	builtins["file"] = func() sdk.Backend { return file.New() }
	builtins["redis"] = func() sdk.Backend { return redis.New() }
	middlewareBuiltins["audit"] = func() sdk.Middleware { return audit.New() }
	middlewareBuiltins["cache"] = func() sdk.Middleware { return cache.New() }
	middlewareBuiltins["crypto"] = func() sdk.Middleware { return crypto.New() }
	middlewareBuiltins["rbac"] = func() sdk.Middleware { return rbac.New() }
}
