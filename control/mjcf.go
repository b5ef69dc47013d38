package control

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// This file reads the subset of MJCF that describes a serial arm: the body tree with its
// frames (pos plus quat, euler, axisangle, xyaxes or zaxis), hinge joints, sites, motor
// actuators, <include>, <default> classes and <compiler angle/eulerseq/autolimits>. It
// does not try to be MuJoCo's compiler; anything it cannot interpret on the chain it is
// asked for is an error that names the file and line, never a silent guess.

// element is one XML element of an MJCF document, with where it was written.
type element struct {
	Name     string
	Attr     map[string]string
	Children []*element
	File     string
	Line     int
}

func (e *element) where() string { return fmt.Sprintf("%s:%d", e.File, e.Line) }

// errorf formats an error that names the element's file and line.
func (e *element) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: <%s>: %s", e.where(), e.Name, fmt.Sprintf(format, args...))
}

// readMJCF parses path and splices every <include file="..."/> in place (paths relative
// to the directory of the top-level file, as MuJoCo resolves them).
func readMJCF(path string) (*element, error) {
	root, err := parseXMLFile(path)
	if err != nil {
		return nil, err
	}
	if root.Name != "mujoco" {
		return nil, root.errorf("top-level element is <%s>, want <mujoco>", root.Name)
	}
	if err := expandIncludes(root, filepath.Dir(path), 0); err != nil {
		return nil, err
	}
	return root, nil
}

func expandIncludes(e *element, dir string, depth int) error {
	if depth > 16 {
		return e.errorf("includes nested more than 16 deep (a cycle?)")
	}
	var out []*element
	for _, c := range e.Children {
		if c.Name != "include" {
			if err := expandIncludes(c, dir, depth); err != nil {
				return err
			}
			out = append(out, c)
			continue
		}
		name, ok := c.Attr["file"]
		if !ok {
			return c.errorf("missing attribute file")
		}
		inc, err := parseXMLFile(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("%s: include: %w", c.where(), err)
		}
		if err := expandIncludes(inc, dir, depth+1); err != nil {
			return err
		}
		out = append(out, inc.Children...)
	}
	e.Children = out
	return nil
}

func parseXMLFile(path string) (*element, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mjcf: %w", err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	var stack []*element
	var root *element
	for {
		line, _ := dec.InputPos()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			l, _ := dec.InputPos()
			return nil, fmt.Errorf("mjcf: %s:%d: malformed XML: %w", path, l, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			// line was read before the token: the position of the tag's '<' (the
			// whitespace before it is a CharData token of its own).
			e := &element{Name: t.Name.Local, Attr: make(map[string]string, len(t.Attr)), File: path, Line: line}
			for _, a := range t.Attr {
				e.Attr[a.Name.Local] = a.Value
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, e)
			} else if root == nil {
				root = e
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if root == nil {
		return nil, fmt.Errorf("mjcf: %s: no XML element in file", path)
	}
	return root, nil
}

// defaultClass is one <default> class: per element kind, the attributes it sets.
type defaultClass struct {
	name   string
	parent *defaultClass
	attrs  map[string]map[string]string // element name -> attribute -> value
}

// lookup returns the attribute value for element kind from this class or its ancestors.
func (c *defaultClass) lookup(kind, attr string) (string, bool) {
	for ; c != nil; c = c.parent {
		if v, ok := c.attrs[kind][attr]; ok {
			return v, true
		}
	}
	return "", false
}

// compiler holds the <compiler> settings that change how numbers are read.
type compiler struct {
	degrees    bool   // angle="degree" (MJCF's default)
	eulerseq   string // default "xyz"
	autolimits bool
}

// mjcfDoc is an MJCF document with its defaults and compiler settings resolved.
type mjcfDoc struct {
	root     *element
	comp     compiler
	classes  map[string]*defaultClass
	world    *element
	parentOf map[*element]*element
}

func newMJCFDoc(root *element) (*mjcfDoc, error) {
	d := &mjcfDoc{
		root:     root,
		comp:     compiler{degrees: true, eulerseq: "xyz"},
		classes:  map[string]*defaultClass{},
		parentOf: map[*element]*element{},
	}
	main := &defaultClass{name: "main", attrs: map[string]map[string]string{}}
	d.classes["main"] = main
	var worlds []*element
	for _, c := range root.Children {
		switch c.Name {
		case "compiler":
			if v, ok := c.Attr["angle"]; ok {
				switch v {
				case "degree":
					d.comp.degrees = true
				case "radian":
					d.comp.degrees = false
				default:
					return nil, c.errorf("angle=%q, want degree or radian", v)
				}
			}
			if v, ok := c.Attr["eulerseq"]; ok {
				if err := checkEulerSeq(v); err != nil {
					return nil, c.errorf("eulerseq: %v", err)
				}
				d.comp.eulerseq = v
			}
			if v, ok := c.Attr["autolimits"]; ok {
				d.comp.autolimits = v == "true"
			}
		case "default":
			if err := d.readDefaults(c, main, true); err != nil {
				return nil, err
			}
		case "worldbody":
			worlds = append(worlds, c)
		}
	}
	if len(worlds) == 0 {
		return nil, root.errorf("no <worldbody>")
	}
	// MJCF allows the worldbody section more than once (for instance once per include);
	// the sections are merged in order.
	d.world = &element{Name: "worldbody", File: worlds[0].File, Line: worlds[0].Line}
	for _, w := range worlds {
		d.world.Children = append(d.world.Children, w.Children...)
	}
	d.indexParents(d.world)
	return d, nil
}

func (d *mjcfDoc) indexParents(e *element) {
	for _, c := range e.Children {
		d.parentOf[c] = e
		d.indexParents(c)
	}
}

// readDefaults reads a <default> element. The top-level one is class "main" (it may
// also carry class="main"); nested ones must name their class.
func (d *mjcfDoc) readDefaults(e *element, parent *defaultClass, top bool) error {
	cls := parent
	if name, ok := e.Attr["class"]; ok && !(top && name == "main") {
		if _, dup := d.classes[name]; dup {
			return e.errorf("default class %q defined twice", name)
		}
		cls = &defaultClass{name: name, parent: parent, attrs: map[string]map[string]string{}}
		d.classes[name] = cls
	} else if !top {
		return e.errorf("nested <default> needs a class attribute")
	}
	for _, c := range e.Children {
		if c.Name == "default" {
			if err := d.readDefaults(c, cls, false); err != nil {
				return err
			}
			continue
		}
		m := cls.attrs[c.Name]
		if m == nil {
			m = map[string]string{}
			cls.attrs[c.Name] = m
		}
		for k, v := range c.Attr {
			m[k] = v
		}
	}
	return nil
}

// classOf returns the default class that applies to element e: its own class attribute,
// else the childclass of the nearest enclosing body that has one, else "main".
func (d *mjcfDoc) classOf(e *element) (*defaultClass, error) {
	name, ok := e.Attr["class"]
	if !ok {
		for p := d.parentOf[e]; p != nil; p = d.parentOf[p] {
			if cc, ok := p.Attr["childclass"]; ok {
				name = cc
				break
			}
		}
	}
	if name == "" {
		return d.classes["main"], nil
	}
	c, ok := d.classes[name]
	if !ok {
		return nil, e.errorf("unknown default class %q", name)
	}
	return c, nil
}

// attr returns e's attribute, falling back to its default class.
func (d *mjcfDoc) attr(e *element, name string) (string, bool, error) {
	if v, ok := e.Attr[name]; ok {
		return v, true, nil
	}
	c, err := d.classOf(e)
	if err != nil {
		return "", false, err
	}
	v, ok := c.lookup(e.Name, name)
	return v, ok, nil
}

// floats reads a whitespace-separated list of exactly n numbers (n < 0: any count).
func (d *mjcfDoc) floats(e *element, name string, n int) ([]float64, bool, error) {
	s, ok, err := d.attr(e, name)
	if err != nil || !ok {
		return nil, ok, err
	}
	fields := strings.Fields(s)
	if n >= 0 && len(fields) != n {
		return nil, true, e.errorf("attribute %s=%q has %d numbers, want %d", name, s, len(fields), n)
	}
	out := make([]float64, len(fields))
	for i, f := range fields {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil, true, e.errorf("attribute %s=%q: %q is not a number", name, s, f)
		}
		out[i] = v
	}
	return out, true, nil
}

func checkEulerSeq(s string) error {
	if len(s) != 3 {
		return fmt.Errorf("%q: want three of x, y, z, X, Y, Z", s)
	}
	for _, r := range s {
		if !strings.ContainsRune("xyzXYZ", r) {
			return fmt.Errorf("%q: want three of x, y, z, X, Y, Z", s)
		}
	}
	return nil
}

// findNamed returns the element of the given kind and name below e (depth first).
func findNamed(e *element, kind, name string) *element {
	for _, c := range e.Children {
		if c.Name == kind && c.Attr["name"] == name {
			return c
		}
		if f := findNamed(c, kind, name); f != nil {
			return f
		}
	}
	return nil
}
