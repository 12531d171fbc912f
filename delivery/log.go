package delivery

import "log/slog"

// slogLevel logs successful attempts at debug and failures at info, so
// that a busy sender's log shows problems, not traffic.
func slogLevel(success bool) slog.Level {
	if success {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
