// Package defaults fills the unset fields of a component's config struct
// from the values of its Default...Config constructor, so that a zero or
// partly filled config works. It never reads flags or the environment:
// cmd does that.
package defaults

// Number is what Positive fills: counts, sizes, rates and durations.
type Number interface {
	~int | ~int32 | ~int64 | ~uint32 | ~uint64 | ~float64
}

// Positive sets *v to def when *v is zero or negative (unset).
func Positive[T Number](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
