package classify

import "github.com/tcpwhy/tcpwhy/flows"

// zeek fills Zeek's conn_state and history.
func zeek(f *flows.Flow, r *FlowResult) {
	// WIRING: f.Zeek
	_ = f
	_ = r
}
