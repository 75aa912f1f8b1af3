package host

import "github.com/hashicorp/go-hclog"

// leveledLogger is a plugin's logger at the plugin's own log_level
// (plugins.NAME.log_level): it drops what is below that level and hands
// the rest to the host's logger, which applies its own level too. The
// plugin is told the level (sdk.WithHostLogger reads GetLevel), so it does
// not send what would be dropped.
type leveledLogger struct {
	hclog.Logger
	level hclog.Level
}

func (l *leveledLogger) on(level hclog.Level) bool { return level >= l.level }

func (l *leveledLogger) Log(level hclog.Level, msg string, args ...any) {
	if l.on(level) {
		l.Logger.Log(level, msg, args...)
	}
}
func (l *leveledLogger) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }
func (l *leveledLogger) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }
func (l *leveledLogger) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *leveledLogger) Warn(msg string, args ...any)  { l.Log(hclog.Warn, msg, args...) }
func (l *leveledLogger) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }
func (l *leveledLogger) IsTrace() bool                 { return l.on(hclog.Trace) && l.Logger.IsTrace() }
func (l *leveledLogger) IsDebug() bool                 { return l.on(hclog.Debug) && l.Logger.IsDebug() }
func (l *leveledLogger) IsInfo() bool                  { return l.on(hclog.Info) && l.Logger.IsInfo() }
func (l *leveledLogger) IsWarn() bool                  { return l.on(hclog.Warn) && l.Logger.IsWarn() }
func (l *leveledLogger) IsError() bool                 { return l.on(hclog.Error) && l.Logger.IsError() }
func (l *leveledLogger) GetLevel() hclog.Level         { return l.level }
func (l *leveledLogger) SetLevel(level hclog.Level)    { l.level = level }
func (l *leveledLogger) With(args ...any) hclog.Logger {
	return &leveledLogger{Logger: l.Logger.With(args...), level: l.level}
}
func (l *leveledLogger) Named(name string) hclog.Logger {
	return &leveledLogger{Logger: l.Logger.Named(name), level: l.level}
}
func (l *leveledLogger) ResetNamed(name string) hclog.Logger {
	return &leveledLogger{Logger: l.Logger.ResetNamed(name), level: l.level}
}

var _ hclog.Logger = (*leveledLogger)(nil)
