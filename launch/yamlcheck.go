package launch

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// yamlError matches yaml.v3's syntax errors.
var yamlError = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// parserProblems are the problems yaml.v3's parser (not its scanner) reports. For them it
// prints a 0-based line (the construct's start, or the offending token's when the
// construct starts on the first line), while scanner errors carry a 1-based one: a
// parser error would name the line before the real one.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found undefined tag handle":             true,
	"found duplicate %YAML directive":        true,
	"found duplicate %TAG directive":         true,
	"found incompatible YAML document":       true,
}

// syntaxError rewrites a YAML syntax error in data as file:line: with the 1-based line
// of the problem (for an unclosed [ or {, the line where it opens).
func syntaxError(path string, data []byte, err error) error {
	m := yamlError.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	line, _ := strconv.Atoi(m[1]) // 0 when yaml.v3 gave none
	if parserProblems[m[2]] {
		line = problemLine(data, line+1, m[2])
	}
	if line == 0 {
		return fmt.Errorf("%s: YAML syntax: %s", path, m[2])
	}
	return fmt.Errorf("%s:%d: YAML syntax: %s", path, line, m[2])
}

// problemLine finds the line of a parser problem that yaml.v3 placed at from, the start
// of the construct it was parsing (a block mapping whose key went wrong further down):
// the first line, from there on, where the document cut after it fails with the same
// problem. It returns from when none does.
func problemLine(data []byte, from int, problem string) int {
	lines := strings.SplitAfter(string(data), "\n")
	for k := from; k <= len(lines); k++ {
		var n yaml.Node
		err := yaml.Unmarshal([]byte(strings.Join(lines[:k], "")), &n)
		if err == nil {
			continue
		}
		if m := yamlError.FindStringSubmatch(err.Error()); m != nil && m[2] == problem {
			return k
		}
	}
	return from
}

// positiveKeys are the keys whose default replaces a zero although zero is outside
// their range: an explicit 0 would be silently replaced, so it is refused (list items
// as *).
var positiveKeys = map[string]bool{
	"control.rate_hz": true, "control.stiffness.*": true, "control.max_torque_rate": true,
	"control.filter_rate": true, "control.home_tolerance": true, "control.home_timeout": true,
	"safety.position_margin": true, "safety.velocity_soft": true,
	"watchdog.state_stale": true, "watchdog.camera_stale": true, "watchdog.camera_frozen": true,
	"arm.ros.lookahead": true, "arm.ros.connect_timeout": true,
	"arm.ros.gripper.max_effort": true, "arm.ros.gripper.max_width": true,
	"cameras.*.width": true, "cameras.*.height": true, "cameras.*.rate_hz": true,
	"policy.threads":     true,
	"sim_server.rate_hz": true, "sim_server.gripper.max_effort": true, "sim_server.gripper.max_width": true,
	"sim_server.cameras.*.width": true, "sim_server.cameras.*.height": true, "sim_server.cameras.*.rate_hz": true,
	"task.rate_hz": true,
}

// checkNodes walks the document along File's type before it is decoded: a list given
// for a fixed-size field (control.stiffness, a gripper's fingers, the workspace corners)
// must have its size, and a key of positiveKeys must not be 0. The error is an *Error at
// the key's line.
func (f *File) checkNodes(root *yaml.Node) error {
	return f.checkNode(root, reflect.TypeOf(File{}), "", root.Line)
}

func (f *File) checkNode(n *yaml.Node, t reflect.Type, key string, line int) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := map[string]reflect.Type{}
		yamlFields(t, fields)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			ft, ok := fields[k]
			if !ok {
				continue // the decoder reports unknown keys
			}
			if err := f.checkNode(n.Content[i+1], ft, joinKey(key, k), n.Content[i].Line); err != nil {
				return err
			}
		}
	case n.Kind == yaml.SequenceNode && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		if t.Kind() == reflect.Array && len(n.Content) != t.Len() {
			unit := "values"
			if len(n.Content) == 1 {
				unit = "value"
			}
			return &Error{File: f.path, Line: line, Key: key, Msg: fmt.Sprintf("%d %s: want %d", len(n.Content), unit, t.Len())}
		}
		for i, c := range n.Content {
			if err := f.checkNode(c, t.Elem(), key+"."+strconv.Itoa(i), c.Line); err != nil {
				return err
			}
		}
	case n.Kind == yaml.ScalarNode && positiveKeys[listPattern(key)] && isZero(n.Value):
		return &Error{File: f.path, Line: line, Key: key, Msg: fmt.Sprintf("%s: must be > 0 (leave the key out for the default)", n.Value)}
	}
	return nil
}

// yamlFields adds the yaml keys of struct type t and their field types to dst, inline
// fields' included.
func yamlFields(t reflect.Type, dst map[string]reflect.Type) {
	for i := range t.NumField() {
		fld := t.Field(i)
		if !fld.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(fld.Tag.Get("yaml"), ",")
		switch {
		case name == "-":
		case strings.Contains(opts, "inline"):
			yamlFields(fld.Type, dst)
		case name == "":
			dst[strings.ToLower(fld.Name)] = fld.Type
		default:
			dst[name] = fld.Type
		}
	}
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// listPattern replaces a key's list indices by * (cameras.1.width -> cameras.*.width).
func listPattern(key string) string {
	parts := strings.Split(key, ".")
	for i, p := range parts {
		if _, err := strconv.Atoi(p); err == nil {
			parts[i] = "*"
		}
	}
	return strings.Join(parts, ".")
}

// isZero reports whether a scalar is a zero number or duration (0, 0.0, 0s, 0ms).
func isZero(s string) bool {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return v == 0
	}
	d, err := time.ParseDuration(s)
	return err == nil && d == 0
}
