package mls

import (
	"bytes"
	"testing"
)

// TestVarintExamples uses the examples of RFC 9420 Section 2.1.2.
func TestVarintExamples(t *testing.T) {
	tests := []struct {
		name    string
		wire    []byte
		value   int
		invalid bool
	}{
		{"one byte", []byte{0x25}, 37, false},
		{"two bytes", []byte{0x7b, 0xbd}, 15293, false},
		{"four bytes", []byte{0x9d, 0x7f, 0x3e, 0x7d}, 494878333, false},
		{"non-minimal two-byte 37", []byte{0x40, 0x25}, 0, true},
		{"reserved 0b11 prefix", []byte{0xc0, 0, 0, 0, 0, 0, 0, 1}, 0, true},
		{"truncated", []byte{0x80, 0x01}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(tc.wire)
			v := r.Varint()
			if tc.invalid {
				if r.Err() == nil {
					t.Fatalf("accepted, value %d", v)
				}
				return
			}
			if r.Err() != nil || v != tc.value {
				t.Fatalf("read %d, %v; want %d", v, r.Err(), tc.value)
			}
			w := NewWriter(nil)
			w.Varint(tc.value)
			if !bytes.Equal(w.Bytes(), tc.wire) {
				t.Fatalf("wrote %x, want %x", w.Bytes(), tc.wire)
			}
		})
	}
}

func TestNestedVectors(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 16383, 16384, 70000} {
		body := bytes.Repeat([]byte{7}, n)
		w := NewWriter([]byte{0xAA})
		w.Vector(func(w *Writer) { w.Raw(body) })
		w.Uint8(0xBB)
		r := NewReader(w.Bytes())
		if r.Uint8() != 0xAA {
			t.Fatal("prefix lost")
		}
		if got := r.Opaque(); !bytes.Equal(got, body) && !(n == 0 && got == nil) {
			t.Fatalf("vector of %d bytes read back as %d", n, len(got))
		}
		if r.Uint8() != 0xBB || r.Finish() != nil {
			t.Fatalf("vector of %d bytes: trailer lost: %v", n, r.Err())
		}
	}
}

func TestReaderRejects(t *testing.T) {
	tests := []struct {
		name string
		read func(r *Reader)
		wire []byte
	}{
		{"bool 2", func(r *Reader) { r.Bool() }, []byte{2}},
		{"opaque longer than input", func(r *Reader) { r.Opaque() }, []byte{5, 1, 2}},
		{"uint32 truncated", func(r *Reader) { r.Uint32() }, []byte{1, 2}},
		{"item overruns its vector", func(r *Reader) { r.Vector(func(r *Reader) { r.Uint16() }) }, []byte{1, 9}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(tc.wire)
			tc.read(r)
			if r.Err() == nil {
				t.Fatal("accepted")
			}
		})
	}
	r := NewReader([]byte{1, 2})
	r.Uint8()
	if r.Finish() == nil {
		t.Fatal("trailing byte accepted")
	}
}

// TestTreeMath checks the array tree functions on the 8-leaf tree drawn in RFC 9420
// Appendix C.
func TestTreeMath(t *testing.T) {
	const n = 8
	if r := root(n); r != 7 {
		t.Fatalf("root %d, want 7", r)
	}
	tests := []struct {
		x                  nodeIndex
		level              uint32
		parent, sibling    nodeIndex
		directPath, copath []nodeIndex
	}{
		{0, 0, 1, 2, []nodeIndex{1, 3, 7}, []nodeIndex{2, 5, 11}},
		{6, 0, 5, 4, []nodeIndex{5, 3, 7}, []nodeIndex{4, 1, 11}},
		{9, 1, 11, 13, []nodeIndex{11, 7}, []nodeIndex{13, 3}},
		{3, 2, 7, 11, []nodeIndex{7}, []nodeIndex{11}},
		{14, 0, 13, 12, []nodeIndex{13, 11, 7}, []nodeIndex{12, 9, 3}},
	}
	for _, tc := range tests {
		if level(tc.x) != tc.level || parent(tc.x) != tc.parent || sibling(tc.x) != tc.sibling {
			t.Errorf("node %d: level %d parent %d sibling %d", tc.x, level(tc.x), parent(tc.x), sibling(tc.x))
		}
		if got := directPath(tc.x, n); !equalNodes(got, tc.directPath) {
			t.Errorf("direct path of %d: %v, want %v", tc.x, got, tc.directPath)
		}
		if got := copath(tc.x, n); !equalNodes(got, tc.copath) {
			t.Errorf("copath of %d: %v, want %v", tc.x, got, tc.copath)
		}
	}
	if left(7) != 3 || right(7) != 11 || left(1) != 0 || right(1) != 2 {
		t.Error("children of 7 or 1 wrong")
	}
	if root(1) != 0 || root(2) != 1 || root(4) != 3 || nodeWidth(5) != 9 {
		t.Error("root or width of small trees wrong")
	}
	if lowestCommonAncestor(0, 6) != 3 || lowestCommonAncestor(2, 12) != 7 || lowestCommonAncestor(4, 4) != 4 {
		t.Error("lowest common ancestor wrong")
	}
	if !isAncestor(3, 6) || isAncestor(3, 8) || !isAncestor(7, 14) {
		t.Error("isAncestor wrong")
	}
}

func equalNodes(a, b []nodeIndex) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDecodeTreeLimits(t *testing.T) {
	w := NewWriter(nil)
	w.Vector(func(w *Writer) {
		for range maxTreeNodes + 2 {
			w.Bool(false)
		}
	})
	if _, err := decodeTree(w.Bytes()); err == nil {
		t.Fatal("tree past maxTreeNodes accepted")
	}
	blankEnd := NewWriter(nil)
	blankEnd.Vector(func(w *Writer) { w.Bool(false) })
	if _, err := decodeTree(blankEnd.Bytes()); err == nil {
		t.Fatal("tree ending in a blank node accepted")
	}
}
