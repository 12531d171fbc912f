package herald

// EndpointMatches reports whether a message of eventType on channels goes to
// e: e is enabled, its EventTypes are empty or contain eventType, and its
// Channels are empty or share one with channels.
func EndpointMatches(e *Endpoint, eventType string, channels []string) bool {
	return !e.Disabled && EndpointFilterMatches(e, eventType, channels)
}

// EndpointFilterMatches reports whether a message of eventType on channels
// passes e's filters, whether e is enabled or not: its EventTypes are empty
// or contain eventType, and its Channels are empty or share one with
// channels. Replaying the messages a disabled endpoint missed uses it.
func EndpointFilterMatches(e *Endpoint, eventType string, channels []string) bool {
	if len(e.EventTypes) > 0 && !contains(e.EventTypes, eventType) {
		return false
	}
	if len(e.Channels) == 0 {
		return true
	}
	for _, c := range channels {
		if contains(e.Channels, c) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
