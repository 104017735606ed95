// Built into FerretDB v1's SQLite backend by scripts/stack.sh (package sqlite).

package sqlite

import (
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// idPushdown narrows a query to the rows the filter's `_id` condition allows, as index
// seeks on the `_id` index: an equality, a list of ids (`$in`), or the prefix a string
// range's bounds share.
//
// What it selects is a superset of the matches (the handler applies the whole filter to
// every row it gets back), so it may ignore any condition it does not understand:
//   - the filter's other keys are ANDed with `_id`, so a row that fails `_id` fails them all;
//   - a string is stored as its JSON text, `"` and the string, escaped. Characters from
//     '#' to '~' other than `\`, `<`, `>` and `&` are written as themselves, so when a
//     prefix is made of them, the JSON texts of the strings starting with it are exactly
//     the texts from `"prefix` up to (excluded) `"prefix` with its last byte raised by one.
func idPushdown(filter *types.Document) (string, []any) {
	if filter == nil {
		return "", nil
	}

	value, _ := filter.Get("_id")

	switch value := value.(type) {
	case string, types.ObjectID:
		return fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn),
			[]any{string(must.NotFail(sjson.MarshalSingleValue(value)))}

	case *types.Document:
		if ids := inIDs(value); len(ids) > 0 {
			marks := strings.Repeat(", ?", len(ids))[2:]
			return fmt.Sprintf(` WHERE %s IN (%s)`, metadata.IDColumn, marks), ids
		}

		prefix := boundsPrefix(value)
		if prefix == "" {
			return "", nil
		}

		end := prefix[:len(prefix)-1] + string(prefix[len(prefix)-1]+1)

		return fmt.Sprintf(` WHERE %[1]s >= ? AND %[1]s < ?`, metadata.IDColumn),
			[]any{`"` + prefix, `"` + end}
	}

	return "", nil
}

// maxInIDs bounds the ids pushed down from one `$in` (SQLite allows 32,766 parameters in
// a statement); a longer list is answered by a scan, as before.
const maxInIDs = 1000

// inIDs is the JSON text of each id an `$in` of strings and ObjectIDs lists; nil when
// there is no `$in`, it lists anything else (a number, a regular expression: values that
// may match ids of another text), or it is too long.
func inIDs(operators *types.Document) []any {
	value, _ := operators.Get("$in")
	list, ok := value.(*types.Array)
	if !ok || list.Len() == 0 || list.Len() > maxInIDs {
		return nil
	}

	ids := make([]any, 0, list.Len())

	for i := 0; i < list.Len(); i++ {
		switch id := must.NotFail(list.Get(i)).(type) {
		case string, types.ObjectID:
			ids = append(ids, string(must.NotFail(sjson.MarshalSingleValue(id))))
		default:
			return nil
		}
	}

	return ids
}

// boundsPrefix is the longest prefix of plain characters that every string satisfying a
// range with both a lower and an upper string bound starts with; "" when there is none.
func boundsPrefix(operators *types.Document) string {
	var lower, upper []string

	for _, key := range operators.Keys() {
		bound, ok := must.NotFail(operators.Get(key)).(string)
		if !ok {
			continue
		}

		switch key {
		case "$gt", "$gte":
			lower = append(lower, bound)
		case "$lt", "$lte":
			upper = append(upper, bound)
		}
	}

	if len(lower) == 0 || len(upper) == 0 {
		return ""
	}

	// The strings between a lower bound l and an upper bound u all start with the prefix
	// l and u share.
	prefix := lower[0]
	for _, bound := range append(lower[1:], upper...) {
		prefix = sharedPrefix(prefix, bound)
	}

	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; c < '#' || c > '~' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return prefix[:i]
		}
	}

	return prefix
}

func sharedPrefix(a, b string) string {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return a[:i]
		}
	}

	return a[:n]
}
