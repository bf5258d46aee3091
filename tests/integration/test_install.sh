#!/usr/bin/env bash
# The public API as a user gets it: `cmake --install` into a temporary DESTDIR
# puts the headers, libkvant.a, libkvant.so, kvant.pc and the kvant command in
# place; every public header compiles on its own (-Wall -Wextra -Werror
# -pedantic, twice in a row for the guard); kvant.h includes them all; each
# header declares only the function prefixes kvant.h lists for it; and a tiny
# program builds with `pkg-config --cflags --libs kvant` (shared) and against
# libkvant.a (static), and runs.
source "$(dirname "$0")/lib.sh"
: "${KV_BUILD_DIR:?KV_BUILD_DIR must name the build folder}"
CC=${CC:-cc}
command -v pkg-config >/dev/null || { echo "skip: no pkg-config"; exit 77; }

ROOT=$TMP/root
PREFIX=/usr/local
DESTDIR=$ROOT cmake --install "$KV_BUILD_DIR" --prefix "$PREFIX" >"$TMP/install.log" 2>&1 \
  && pass "cmake --install into a DESTDIR" || { cat "$TMP/install.log"; fail "cmake --install"; finish; exit 1; }
P=$ROOT$PREFIX
LIB=$(dirname "$(dirname "$(find "$P" -name kvant.pc | head -1)")")
for f in bin/kvant include/kvant/kvant.h; do
  [ -f "$P/$f" ] && pass "installed $f" || fail "no $f in $P"
done
for f in libkvant.a libkvant.so pkgconfig/kvant.pc; do
  [ -e "$LIB/$f" ] && pass "installed lib/$f" || fail "no $f in $LIB"
done
expect_rc 0 "the installed kvant runs" "$P/bin/kvant" --version

# every public header alone, and kvant.h lists every one
INC=$P/include
for h in "$INC"/kvant/*.h; do
  name=kvant/$(basename "$h")
  # (the trailing typedef keeps a header of macros alone from being an empty unit)
  OUT=$(printf '#include "%s"\n#include "%s"\ntypedef int kv__tu;\n' "$name" "$name" |
        $CC -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only -I"$INC" -x c - 2>&1) \
    && pass "$name compiles alone" || fail "$name alone: $OUT"
  [ "$name" = kvant/kvant.h ] && continue
  grep -q "^#include \"$name\"" "$INC/kvant/kvant.h" && pass "kvant.h includes $name" \
    || fail "kvant.h does not include $name"
done

# function prefixes: what each header declares at file scope against the
# prefixes kvant.h's comment lists for it (globs: kv_gguf_*, kv_token*, kv_*_ok)
while IFS= read -r inc; do
  h=${inc#*\"}; h=${h%%\"*}
  # the comment on the include line and the comment-only lines after it
  globs=$(awk -v h="$h" '
    index($0, "#include \"" h "\"") { on = 1; if (!sub(/^.*\/\//, "")) $0 = ""; print; next }
    on && /^[[:space:]]+\/\// { sub(/^[[:space:]]+\/\//, ""); print; next }
    { on = 0 }' "$INC/kvant/kvant.h" | grep -oE 'kv_[a-z0-9_*]*|kv__[a-z0-9_*]*' | sort -u)
  bad=
  for fn in $(grep -E '^[a-z]' "$INC/$h" | grep -vE '^(typedef|enum|struct|extern)\b' |
              grep -oE '\bkv_[a-z0-9_]+[[:space:]]*\(' | tr -d '( '); do
    ok=
    for g in $globs; do
      # shellcheck disable=SC2053 # $g is a glob on purpose
      [[ $fn == $g ]] && { ok=1; break; }
    done
    [ -n "$ok" ] || bad="$bad $fn"
  done
  [ -z "$bad" ] && pass "$h declares only the prefixes kvant.h lists" \
    || fail "$h declares$bad, not among the prefixes kvant.h lists for it (${globs//$'\n'/ })"
done < <(grep '^#include "kvant/' "$INC/kvant/kvant.h")

# a tiny program against the installed library
export PKG_CONFIG_PATH=$LIB/pkgconfig
FLAGS=$(pkg-config --cflags --libs kvant) && pass "pkg-config --cflags --libs kvant: $FLAGS" \
  || fail "pkg-config does not find kvant"
TINY=$SRC/tests/integration/install/tiny.c
OUT=$($CC -std=c11 -Wall -Wextra -Werror -pedantic "$TINY" -o "$TMP/tiny" $FLAGS -lm 2>&1) \
  && pass "the tiny program builds against libkvant.so" || fail "tiny (shared): $OUT"
OUT=$(LD_LIBRARY_PATH=$LIB "$TMP/tiny" 2>&1) && pass "it runs: $OUT" || fail "tiny (shared) run: $OUT"
LD_LIBRARY_PATH=$LIB ldd "$TMP/tiny" | grep -q "$LIB/libkvant.so" \
  && pass "it uses the installed libkvant.so" || fail "tiny does not load $LIB/libkvant.so"
# libkvant.a itself, and the libraries kvant.pc requires, as shared ones
STATIC="$(pkg-config --libs $(pkg-config --print-requires-private kvant)) -pthread -lm"
OUT=$($CC -std=c11 -Wall -Wextra -Werror -pedantic $(pkg-config --cflags kvant) "$TINY" \
      "$LIB/libkvant.a" $STATIC -o "$TMP/tiny-static" 2>&1) \
  && pass "the tiny program builds against libkvant.a" || fail "tiny (static): $OUT"
OUT=$("$TMP/tiny-static" 2>&1) && pass "it runs: $OUT" || fail "tiny (static) run: $OUT"
ldd "$TMP/tiny-static" | grep -q libkvant && fail "tiny-static loads libkvant.so" \
  || pass "the static one needs no libkvant.so"

finish
