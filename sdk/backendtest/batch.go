package backendtest

import (
	"fmt"

	"github.com/locksmithx/locksmith/sdk"
)

// checkBatch: sdk.Batch (the store's own Batch, or one call per op) applies
// every op as its own call would: results in the ops' order, one op's
// error in its own result without stopping the others, and the ops of one
// resource in the batch's order, so a put and then a delete of one key
// leaves nothing behind. Each answer is checked against what the store
// holds afterwards.
func checkBatch(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	r1, r2 := e.resource("r1"), e.resource("r2")
	x := e.put(t, ctx, sdk.PutRequest{Resource: r1, Key: "x", Value: []byte("x"), Session: s.ID, IfAbsent: true})
	put := func(r, k string) sdk.BatchOp {
		return sdk.BatchOp{Put: &sdk.PutRequest{Resource: r, Key: k, Value: []byte(k), Session: s.ID, IfAbsent: true, WithRange: true}}
	}
	ops := []sdk.BatchOp{
		put(r1, "a"),
		put(r2, "b"),
		put(r1, "x"), // exists
		{Delete: &sdk.DeleteRequest{Resource: r1, Key: "missing"}},
		put(r1, "c"),
		{Delete: &sdk.DeleteRequest{Resource: r2, Key: "b"}}, // after its put
		put("", "k"), // invalid
		put(r2, "d"),
	}
	rs, err := sdk.Batch(ctx, e.b, ops)
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	if len(rs) != len(ops) {
		t.Fatalf("Batch of %d ops answered with %d results", len(ops), len(rs))
	}
	for i, want := range []sdk.Code{"", "", sdk.CodeExists, sdk.CodeNotFound, "", "", sdk.CodeInvalidArgument, ""} {
		got := rs[i].Err
		switch {
		case want == "" && got != nil:
			t.Errorf("op %d (%s): %v, want success: every op applied as its own call would be, those of one resource in the batch's order", i, describeOp(ops[i]), got)
		case want != "" && sdk.CodeOf(got) != want:
			t.Errorf("op %d (%s): error %v, want code %s", i, describeOp(ops[i]), got, want)
		}
	}
	if t.Failed() {
		return
	}
	a, c, b, d := rs[0].Put, rs[4].Put, rs[1].Put, rs[7].Put
	if a.CreateRev <= x.CreateRev || c.CreateRev <= a.CreateRev {
		t.Errorf("r1: x, a, c created at revisions %d, %d, %d: want them rising in the batch's order", x.CreateRev, a.CreateRev, c.CreateRev)
	}
	if got := keysOf(a.Entries); len(a.Entries) != 2 || a.Entries[0].Key != "x" || a.Entries[1].Key != "a" {
		t.Errorf("put a with range: entries %s, want x then a", got)
	}
	if got := keysOf(c.Entries); len(c.Entries) != 3 || c.Entries[2].Key != "c" {
		t.Errorf("put c with range: entries %s, want x, a, c", got)
	}
	if del := rs[5].Delete; del.Rev <= b.ModRev || d.CreateRev <= del.Rev {
		t.Errorf("r2: put b at %d, its delete at %d, put d at %d: want them rising in the batch's order", b.ModRev, del.Rev, d.CreateRev)
	}
	if got := keysOf(d.Entries); len(d.Entries) != 1 || d.Entries[0].Key != "d" {
		t.Errorf("put d with range: entries %s, want d alone (b was deleted before it)", got)
	}
	rg1, rg2 := e.rangeOf(t, ctx, e.b, r1), e.rangeOf(t, ctx, e.b, r2)
	if got := keysOf(rg1.Entries); len(rg1.Entries) != 3 || rg1.Entries[0].Key != "x" || rg1.Entries[1].Key != "a" || rg1.Entries[2].Key != "c" {
		t.Errorf("Range r1 after the batch: %s, want x, a, c", got)
	}
	if got := keysOf(rg2.Entries); len(rg2.Entries) != 1 || rg2.Entries[0].Key != "d" {
		t.Errorf("Range r2 after the batch: %s, want d alone", got)
	}
}

func describeOp(op sdk.BatchOp) string {
	if op.Put != nil {
		return fmt.Sprintf("put %q %q", op.Put.Resource, op.Put.Key)
	}
	if op.Delete != nil {
		return fmt.Sprintf("delete %q %q", op.Delete.Resource, op.Delete.Key)
	}
	return "empty op"
}
