package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/locksmithx/locksmith/sdk"
)

// version is the release; the build may set it with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "locksmith %s (plugin protocol %d, %s %s/%s)\n",
				version, sdk.ProtocolVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}
