package episode

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"
)

// leafNode maps a LeRobot dtype to a parquet leaf.
func leafNode(dtype string) (parquet.Node, error) {
	switch dtype {
	case "float32":
		return parquet.Leaf(parquet.FloatType), nil
	case "float64":
		return parquet.Leaf(parquet.DoubleType), nil
	case "int64":
		return parquet.Int(64), nil
	case "int32":
		return parquet.Int(32), nil
	case "bool":
		return parquet.Leaf(parquet.BooleanType), nil
	case "string":
		return parquet.String(), nil
	}
	return nil, fmt.Errorf("dtype %q not supported in data files", dtype)
}

// dataSchema is the data/ parquet schema of LeRobot's get_hf_features_from_features:
// shape (1,) features are scalars, other shapes lists; videos are not in the table.
func dataSchema(fs []Feature) (*parquet.Schema, error) {
	g := parquet.Group{}
	for _, f := range fs {
		if f.IsVideo() {
			continue
		}
		leaf, err := leafNode(f.Dtype)
		if err != nil {
			return nil, fmt.Errorf("feature %q: %w", f.Key, err)
		}
		if len(f.Shape) == 1 && f.Shape[0] == 1 {
			g[f.Key] = leaf
		} else {
			g[f.Key] = parquet.List(leaf)
		}
	}
	return parquet.NewSchema("schema", g), nil
}

// episodesSchema is the meta/episodes parquet schema LeRobot writes (pa.Table.from_pydict
// of the episode dicts): indices int64, video timestamps double, per-episode stats as
// lists of double (count: int64; images: (C, 1, 1) nested lists).
func episodesSchema(fs []Feature, statKeysOf []string) *parquet.Schema {
	i64 := parquet.Int(64)
	g := parquet.Group{
		"episode_index":             i64,
		"tasks":                     parquet.List(parquet.String()),
		"length":                    i64,
		"data/chunk_index":          i64,
		"data/file_index":           i64,
		"dataset_from_index":        i64,
		"dataset_to_index":          i64,
		"meta/episodes/chunk_index": i64,
		"meta/episodes/file_index":  i64,
	}
	for _, f := range fs {
		if !f.IsVideo() {
			continue
		}
		p := "videos/" + f.Key + "/"
		g[p+"chunk_index"] = i64
		g[p+"file_index"] = i64
		g[p+"from_timestamp"] = parquet.Leaf(parquet.DoubleType)
		g[p+"to_timestamp"] = parquet.Leaf(parquet.DoubleType)
	}
	dbl := parquet.List(parquet.Leaf(parquet.DoubleType))
	img := parquet.List(parquet.List(dbl))
	for _, key := range statKeysOf {
		f, _ := featureOf(fs, key)
		for _, sk := range statKeys {
			col := "stats/" + key + "/" + sk
			switch {
			case sk == "count":
				g[col] = parquet.List(parquet.Int(64))
			case f.IsVideo() || f.Dtype == "image":
				g[col] = img
			default:
				g[col] = dbl
			}
		}
	}
	return parquet.NewSchema("schema", g)
}

func featureOf(fs []Feature, key string) (Feature, bool) {
	for _, f := range fs {
		if f.Key == key {
			return f, true
		}
	}
	return Feature{}, false
}

func tasksSchema() *parquet.Schema {
	return parquet.NewSchema("schema", parquet.Group{
		"task_index": parquet.Int(64),
		"task":       parquet.String(),
	})
}

// pandasTasksMeta makes pandas (LeRobot's load_tasks) restore "task" as the index.
const pandasTasksMeta = `{"index_columns": ["task"], "column_indexes": [{"name": null, "field_name": null, "pandas_type": "unicode", "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}], "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64", "metadata": null}, {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": null}], "creator": {"library": "robotd", "version": "v3.0"}, "pandas_version": "2.0.0"}`

// parquetOut writes one parquet file; rows are maps from column to value.
type parquetOut struct {
	f *os.File
	w *parquet.GenericWriter[map[string]any]
}

func createParquet(path string, schema *parquet.Schema, kv ...string) (*parquetOut, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	opts := []parquet.WriterOption{parquet.Compression(&snappy.Codec{}), parquet.CreatedBy("robotd", "episode", "v3.0")}
	for i := 0; i+1 < len(kv); i += 2 {
		opts = append(opts, parquet.KeyValueMetadata(kv[i], kv[i+1]))
	}
	opts = append(opts, schema)
	return &parquetOut{f: f, w: parquet.NewGenericWriter[map[string]any](f, opts...)}, nil
}

// copyFrom copies every row of the parquet file at path into the writer's row group
// (a file robotd rewrites is one row group: reading back a row group per episode cost
// a page header per column and episode, and grew a session's close time). The file must
// have the writer's schema.
func (p *parquetOut) copyFrom(path string) error {
	pf, closeFn, err := openParquet(path)
	if err != nil {
		return err
	}
	defer closeFn()
	if !parquet.EqualNodes(pf.Schema(), p.w.Schema()) {
		return fmt.Errorf("%s: schema differs from the one robotd writes:\n%s\nwant:\n%s", path, pf.Schema(), p.w.Schema())
	}
	buf := make([]parquet.Row, 256)
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			if n > 0 {
				if _, werr := p.w.WriteRows(buf[:n]); werr != nil {
					rows.Close()
					return fmt.Errorf("%s: copy rows: %w", path, werr)
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rows.Close()
				return fmt.Errorf("%s: read rows: %w", path, err)
			}
		}
		rows.Close()
	}
	return nil
}

// writeGroup adds rows to the row group that close writes, after the rows already
// written (as parquet.Rows, the way copyFrom writes: the writer's Write of maps
// buffers apart and would put them first).
func (p *parquetOut) writeGroup(rows []map[string]any) error {
	schema := p.w.Schema()
	buf := make([]parquet.Row, len(rows))
	for i, r := range rows {
		buf[i] = schema.Deconstruct(nil, r)
	}
	_, err := p.w.WriteRows(buf)
	return err
}

// close finishes the file and fsyncs it.
func (p *parquetOut) close() error {
	err := p.w.Close()
	if err == nil {
		err = p.f.Sync()
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (p *parquetOut) abort() {
	p.f.Close()
	os.Remove(p.f.Name())
}

func openParquet(path string) (*parquet.File, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not a readable parquet file (truncated or corrupt?): %w", path, err)
	}
	return pf, func() { f.Close() }, nil
}

// table is a parquet file read as rows of top-level columns; each cell holds the
// non-null leaf values of the column (one for scalars, the elements for lists).
type table struct {
	cols  []string       // top-level column names
	index map[string]int // name -> position in cols
	rows  [][][]parquet.Value
}

func (t *table) has(col string) bool { _, ok := t.index[col]; return ok }

func (t *table) cell(row int, col string) []parquet.Value {
	i, ok := t.index[col]
	if !ok {
		return nil
	}
	return t.rows[row][i]
}

// readTable reads a whole parquet file. filter, when set, sees each row's cells and
// says whether to keep it.
func readTable(path string, filter func(cells [][]parquet.Value, index map[string]int) bool) (*table, error) {
	pf, closeFn, err := openParquet(path)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	t := &table{index: map[string]int{}}
	leafTop := []int{}
	for _, leaf := range pf.Schema().Columns() {
		name := leaf[0]
		i, ok := t.index[name]
		if !ok {
			i = len(t.cols)
			t.index[name] = i
			t.cols = append(t.cols, name)
		}
		leafTop = append(leafTop, i)
	}
	buf := make([]parquet.Row, 256)
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for {
			n, rerr := rows.ReadRows(buf)
			for _, r := range buf[:n] {
				cells := make([][]parquet.Value, len(t.cols))
				r.Range(func(ci int, vals []parquet.Value) bool {
					top := leafTop[ci]
					for _, v := range vals {
						if !v.IsNull() {
							cells[top] = append(cells[top], v.Clone())
						}
					}
					return true
				})
				if filter == nil || filter(cells, t.index) {
					t.rows = append(t.rows, cells)
				}
			}
			if errors.Is(rerr, io.EOF) {
				break
			}
			if rerr != nil {
				rows.Close()
				return nil, fmt.Errorf("%s: read rows: %w", path, rerr)
			}
		}
		rows.Close()
	}
	return t, nil
}

func valInt(vs []parquet.Value) (int64, bool) {
	if len(vs) != 1 {
		return 0, false
	}
	switch vs[0].Kind() {
	case parquet.Int64:
		return vs[0].Int64(), true
	case parquet.Int32:
		return int64(vs[0].Int32()), true
	case parquet.Double:
		return int64(vs[0].Double()), true
	}
	return 0, false
}

func valFloat(v parquet.Value) float64 {
	switch v.Kind() {
	case parquet.Float:
		return float64(v.Float())
	case parquet.Double:
		return v.Double()
	case parquet.Int64:
		return float64(v.Int64())
	case parquet.Int32:
		return float64(v.Int32())
	case parquet.Boolean:
		if v.Boolean() {
			return 1
		}
	}
	return 0
}

func valFloat32s(vs []parquet.Value, dst []float32) []float32 {
	for _, v := range vs {
		if v.Kind() == parquet.Float {
			dst = append(dst, v.Float())
		} else {
			dst = append(dst, float32(valFloat(v)))
		}
	}
	return dst
}

func valStrings(vs []parquet.Value) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, string(v.ByteArray()))
	}
	return out
}
