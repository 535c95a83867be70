package classify

import "github.com/tcpwhy/tcpwhy/flows"

// zeek fills Zeek's conn_state and history, as Zeek would log them.
func zeek(f *flows.Flow, r *FlowResult) {
	r.ZeekState = f.Zeek.ConnState()
	if r.histories == nil {
		r.ZeekHistory = f.Zeek.History()
		return
	}
	// Most flows share a few histories: a FlowResult reused for every
	// flow keeps one string of each.
	var buf [32]byte
	b := f.Zeek.AppendHistory(buf[:0])
	if h, ok := r.histories[string(b)]; ok {
		r.ZeekHistory = h
		return
	}
	h := string(b)
	if len(r.histories) < maxHistories {
		r.histories[h] = h
	}
	r.ZeekHistory = h
}

// maxHistories bounds the distinct histories a reused FlowResult keeps.
const maxHistories = 1024
