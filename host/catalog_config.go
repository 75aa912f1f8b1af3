package host

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/locksmithx/locksmith/sdk"
)

// keyPath matches the start of a config error that names the key it is
// about, as sdk.Config.Decode writes it: "paht: unknown key",
// "tls.ca: want string, …".
var keyPath = regexp.MustCompile(`^([A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+|\[[0-9]+\])*): `)

// configErr names a plugin's Configure error by its full key path: an
// invalid-config error whose message begins with a key of the plugin's
// section becomes "plugins.NAME.config.KEY: …", and any other
// invalid-config error "plugins.NAME.config: …". Other errors are returned
// as they are.
func configErr(name string, err error) error {
	var se *sdk.Error
	if !errors.As(err, &se) || se.Code != sdk.CodeInvalidConfig {
		return err
	}
	if keyPath.MatchString(se.Message) {
		return &sdk.Error{Code: se.Code, Message: fmt.Sprintf("plugins.%s.config.%s", name, se.Message)}
	}
	return &sdk.Error{Code: se.Code, Message: fmt.Sprintf("plugins.%s.config: %s", name, se.Message)}
}
