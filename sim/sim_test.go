package sim

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// modelsTree makes root/sim/models/scene.xml and a nested directory below root.
func modelsTree(t *testing.T) (root, nested string) {
	t.Helper()
	root = t.TempDir()
	models := filepath.Join(root, "sim", "models")
	nested = filepath.Join(root, "deploy", "launch")
	for _, d := range []string{models, nested} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(models, "scene.xml"), []byte("<mujoco/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root, nested
}

// The models are found from a start directory (a launch file's) whatever the working
// directory; $ROBOTD_MODELS wins; with none found the error names every place looked.
func TestFindModels(t *testing.T) {
	t.Setenv(ModelsEnv, "")
	root, nested := modelsTree(t)
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)

	got, err := FindModels(nested)
	if want := filepath.Join(root, "sim", "models"); err != nil || got != want {
		t.Errorf("FindModels(%s) = %q, %v; want %q", nested, got, err, want)
	}
	if m, err := FindReferenceModel(nested); err != nil || m != filepath.Join(root, "sim", "models", "scene.xml") {
		t.Errorf("FindReferenceModel = %q, %v", m, err)
	}

	// The working directory is searched too (after the start directories).
	t.Chdir(nested)
	if got, err := FindModels(); err != nil || got != filepath.Join(root, "sim", "models") {
		t.Errorf("FindModels() from %s = %q, %v", nested, got, err)
	}

	t.Chdir(elsewhere)
	_, err = FindModels(filepath.Join(elsewhere, "launch"))
	if !errors.Is(err, ErrNoModel) {
		t.Fatalf("FindModels with no models anywhere = %v, want ErrNoModel", err)
	}
	for _, want := range []string{filepath.Join(elsewhere, "launch"), elsewhere, "$" + ModelsEnv} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if d := ModelsDir(); d != filepath.Join("sim", "models") {
		t.Errorf("ModelsDir() with none found = %q, want the relative sim/models", d)
	}

	t.Setenv(ModelsEnv, "/opt/models")
	if got, err := FindModels(nested); err != nil || got != "/opt/models" {
		t.Errorf("FindModels with $%s = %q, %v", ModelsEnv, got, err)
	}
}
