package cv

import (
	"image"
	"strconv"
)

func rect(x, y, w, h int) image.Rectangle { return image.Rect(x, y, x+w, y+h) }
func pt(x, y int) image.Point             { return image.Pt(x, y) }
func itoa(i int) string                   { return strconv.Itoa(i) }
