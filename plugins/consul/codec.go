package consul

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/locksmithx/locksmith/sdk"
)

// record is an entry as stored: its header and its value.
type record struct {
	createRev int64
	modRev    int64
	session   string
	value     []byte
}

// encodeRecord writes "<createRev> <modRev> <len(session)>\n" + session +
// value.
func encodeRecord(r record) []byte {
	b := make([]byte, 0, 48+len(r.session)+len(r.value))
	b = strconv.AppendInt(b, r.createRev, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.modRev, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(r.session)), 10)
	b = append(b, '\n')
	b = append(b, r.session...)
	return append(b, r.value...)
}

func decodeRecord(raw []byte) (record, error) {
	head, body, ok := strings.Cut(string(raw), "\n")
	if !ok {
		return record{}, fmt.Errorf("entry header missing")
	}
	f := strings.Fields(head)
	if len(f) != 3 {
		return record{}, fmt.Errorf("malformed entry header %q", head)
	}
	var n [3]int64
	for i := range n {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil || v < 0 {
			return record{}, fmt.Errorf("malformed entry header %q", head)
		}
		n[i] = v
	}
	if n[2] > int64(len(body)) || n[0] < 1 || n[1] < n[0] {
		return record{}, fmt.Errorf("malformed entry header %q", head)
	}
	r := record{createRev: n[0], modRev: n[1], session: body[:n[2]]}
	if v := body[n[2]:]; v != "" {
		r.value = []byte(v)
	}
	return r, nil
}

// encodeEvent writes "<p|d> <rev> <createRev> <modRev> <len(key)>
// <len(session)>\n" + key + session + value.
func encodeEvent(ev sdk.Event) []byte {
	t := byte('p')
	if ev.Type == sdk.EventDelete {
		t = 'd'
	}
	b := make([]byte, 0, 64+len(ev.Entry.Key)+len(ev.Entry.Session)+len(ev.Entry.Value))
	b = append(b, t, ' ')
	for _, v := range []int64{ev.Rev, ev.Entry.CreateRev, ev.Entry.ModRev, int64(len(ev.Entry.Key))} {
		b = strconv.AppendInt(b, v, 10)
		b = append(b, ' ')
	}
	b = strconv.AppendInt(b, int64(len(ev.Entry.Session)), 10)
	b = append(b, '\n')
	b = append(b, ev.Entry.Key...)
	b = append(b, ev.Entry.Session...)
	return append(b, ev.Entry.Value...)
}

func decodeEvent(raw []byte) (sdk.Event, error) {
	head, body, ok := strings.Cut(string(raw), "\n")
	if !ok {
		return sdk.Event{}, fmt.Errorf("malformed event")
	}
	f := strings.Fields(head)
	if len(f) != 6 || (f[0] != "p" && f[0] != "d") {
		return sdk.Event{}, fmt.Errorf("malformed event header %q", head)
	}
	var n [5]int64
	for i := range n {
		v, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil || v < 0 {
			return sdk.Event{}, fmt.Errorf("malformed event header %q", head)
		}
		n[i] = v
	}
	klen, slen := n[3], n[4]
	if klen+slen > int64(len(body)) {
		return sdk.Event{}, fmt.Errorf("event %q shorter than its header says", head)
	}
	ev := sdk.Event{Type: sdk.EventPut, Rev: n[0], Entry: sdk.Entry{
		Key: body[:klen], Session: body[klen : klen+slen], CreateRev: n[1], ModRev: n[2],
	}}
	if v := body[klen+slen:]; v != "" {
		ev.Entry.Value = []byte(v)
	}
	if f[0] == "d" {
		ev.Type = sdk.EventDelete
	}
	return ev, nil
}
