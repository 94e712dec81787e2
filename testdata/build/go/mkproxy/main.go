// mkproxy writes a module directory as a GOPROXY file tree (list, .info, .mod, .zip), so a
// build can point GOPROXY=file://... at it with no network.
//
// Usage: go run mkproxy/main.go SRC-DIR PROXY-DIR MODULE VERSION
package main

import (
	"archive/zip"
	"io/fs"
	"os"
	"path/filepath"
)

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func main() {
	src, out, mod, ver := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	dir := filepath.Join(out, mod, "@v")
	must(os.MkdirAll(dir, 0o755))
	gomod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	must(err)
	must(os.WriteFile(filepath.Join(dir, ver+".mod"), gomod, 0o644))
	info := `{"Version":"` + ver + `","Time":"2024-01-01T00:00:00Z"}`
	must(os.WriteFile(filepath.Join(dir, ver+".info"), []byte(info), 0o644))
	must(os.WriteFile(filepath.Join(dir, "list"), []byte(ver+"\n"), 0o644))

	f, err := os.Create(filepath.Join(dir, ver+".zip"))
	must(err)
	w := zip.NewWriter(f)
	must(filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		entry, err := w.Create(mod + "@" + ver + "/" + filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = entry.Write(body)
		return err
	}))
	must(w.Close())
	must(f.Close())
}
