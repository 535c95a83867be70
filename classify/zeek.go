package classify

import "github.com/tcpwhy/tcpwhy/flows"

// zeek fills Zeek's conn_state and history, as Zeek would log them.
func zeek(f *flows.Flow, r *FlowResult) {
	r.ZeekState = f.Zeek.ConnState()
	r.ZeekHistory = f.Zeek.History()
}
