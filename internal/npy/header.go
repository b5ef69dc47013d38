package npy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// parseHeader extracts descr, fortran_order and shape from a header dict.
func parseHeader(h string) (descr string, fortran bool, shape []int, err error) {
	quoted := strings.TrimRight(h, " \n\x00")
	if len(quoted) > 200 {
		quoted = quoted[:200] + "..."
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("bad header %q: %s", quoted, fmt.Sprintf(format, args...))
	}
	p := &litParser{s: h}
	v, err := p.value()
	if err == nil {
		p.skipSpace()
		if p.pos < len(p.s) {
			err = p.errorf("unexpected %q after the dict", p.s[p.pos])
		}
	}
	if err != nil {
		return "", false, nil, fail("%v", err)
	}
	dict, ok := v.(map[string]entry)
	if !ok {
		return "", false, nil, fail("not a dict")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if _, ok := dict[k]; !ok {
			return "", false, nil, fail("missing key '%s'", k)
		}
	}
	descr, ok = dict["descr"].val.(string)
	if !ok {
		return "", false, nil, fail("unsupported dtype %s (structured)", dict["descr"].raw)
	}
	if fortran, ok = dict["fortran_order"].val.(bool); !ok {
		return "", false, nil, fail("fortran_order is %s, want True or False", dict["fortran_order"].raw)
	}
	dims, ok := dict["shape"].val.([]any)
	if !ok {
		return "", false, nil, fail("shape is %s, want a tuple", dict["shape"].raw)
	}
	shape = make([]int, len(dims))
	for i, d := range dims {
		n, ok := d.(int)
		if !ok || n < 0 {
			return "", false, nil, fail("shape %s has a bad dimension", dict["shape"].raw)
		}
		shape[i] = n
	}
	return descr, fortran, shape, nil
}

// litParser parses the Python literals that appear in .npy headers: dicts,
// tuples, lists, strings, ints (with Python 2's "L" suffix), True, False and
// None. Tuples and lists become []any and dicts map[string]entry.
type litParser struct {
	s     string
	pos   int
	depth int // of nested dicts, tuples and lists
}

// maxDepth bounds recursion on hostile headers such as "((((...".
const maxDepth = 32

// entry is one dict value with its source text, for error messages.
type entry struct {
	val any
	raw string
}

func (p *litParser) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *litParser) skipSpace() {
	for p.pos < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *litParser) value() (any, error) {
	p.skipSpace()
	if p.pos == len(p.s) {
		return nil, p.errorf("unexpected end of header")
	}
	switch c := p.s[p.pos]; {
	case c == '{' || c == '(' || c == '[':
		if p.depth++; p.depth > maxDepth {
			return nil, p.errorf("literals nested too deeply")
		}
		defer func() { p.depth-- }()
		if c == '{' {
			return p.dict()
		} else if c == '(' {
			return p.seq(')')
		}
		return p.seq(']')
	case c == '\'' || c == '"':
		return p.str()
	case c == '-' || c >= '0' && c <= '9':
		return p.int()
	}
	for _, kw := range []struct {
		word string
		val  any
	}{{"True", true}, {"False", false}, {"None", nil}} {
		if strings.HasPrefix(p.s[p.pos:], kw.word) {
			p.pos += len(kw.word)
			return kw.val, nil
		}
	}
	return nil, p.errorf("unexpected %q", p.s[p.pos])
}

// seq parses a tuple or list; "(x)" without a comma is just x, as in Python.
func (p *litParser) seq(end byte) (any, error) {
	p.pos++
	var items []any
	comma := false
	for {
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == end {
			p.pos++
			if end == ')' && len(items) == 1 && !comma {
				return items[0], nil
			}
			return items, nil
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		if comma = p.next(','); !comma && !p.peek(end) {
			return nil, p.errorf("expected ',' or %q", end)
		}
	}
}

func (p *litParser) dict() (any, error) {
	p.pos++
	d := map[string]entry{}
	for {
		if p.next('}') {
			return d, nil
		}
		k, err := p.value()
		if err != nil {
			return nil, err
		}
		key, ok := k.(string)
		if !ok {
			return nil, p.errorf("dict key %v is not a string", k)
		}
		if !p.next(':') {
			return nil, p.errorf("expected ':' after key '%s'", key)
		}
		start := p.pos
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		d[key] = entry{v, strings.TrimSpace(p.s[start:p.pos])}
		if !p.next(',') && !p.peek('}') {
			return nil, p.errorf("expected ',' or '}'")
		}
	}
}

// next consumes c (after spaces) if it comes next.
func (p *litParser) next(c byte) bool {
	if p.peek(c) {
		p.pos++
		return true
	}
	return false
}

func (p *litParser) peek(c byte) bool {
	p.skipSpace()
	return p.pos < len(p.s) && p.s[p.pos] == c
}

func (p *litParser) str() (any, error) {
	q := p.s[p.pos]
	var b strings.Builder
	for p.pos++; p.pos < len(p.s); p.pos++ {
		c := p.s[p.pos]
		switch {
		case c == q:
			p.pos++
			return b.String(), nil
		case c == '\\' && p.pos+1 < len(p.s):
			p.pos++
			c = p.s[p.pos]
		}
		b.WriteByte(c)
	}
	return nil, errors.New("unterminated string")
}

func (p *litParser) int() (any, error) {
	start := p.pos
	if p.s[p.pos] == '-' {
		p.pos++
	}
	for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
		p.pos++
	}
	n, err := strconv.Atoi(p.s[start:p.pos])
	if err != nil {
		return nil, p.errorf("bad integer %q", p.s[start:p.pos])
	}
	if p.pos < len(p.s) && (p.s[p.pos] == 'L' || p.s[p.pos] == 'l') {
		p.pos++ // Python 2 long
	}
	return n, nil
}
