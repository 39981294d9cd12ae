#!/bin/sh
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Build the man page: gen-man.sh L4SPLIT SOURCE OUT
# SOURCE (docs/l4split.h2m) is a help2man include file; its line @GRAMMAR@ becomes the
# text of `l4split help`, and @COMMANDS@ one subsection per object that `l4split help`
# lists, holding the text of `l4split help OBJECT` as it is printed (a command added to
# the grammar joins the page by itself). help2man makes the page around it.
set -eu
bin=$1 src=$2 out=$3
tmp=$out.h2m

# Text as roff that prints it as is: no fill, and every character that troff would
# change (backslash, hyphen, quotes, ^ and ~, a leading '.') escaped.
verbatim() {
	printf '.nf\n'
	sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/'/\\\\(aq/g" -e 's/`/\\(ga/g' \
		-e 's/\^/\\(ha/g' -e 's/~/\\(ti/g' -e 's/^\./\\\&./'
	printf '.fi\n'
}

# The objects, in the order of the grammar: "l4split OBJECT ..." lines of `l4split help`.
objects=$("$bin" help | sed -n 's/^\(Usage:\)\{0,1\} *l4split \([a-z][a-z-]*\).*/\2/p' | awk '!seen[$0]++')
[ -n "$objects" ] || { echo "gen-man.sh: '$bin help' lists no object" >&2; exit 1; }

{
	while IFS= read -r line; do
		case $line in
		@GRAMMAR@) "$bin" help | verbatim ;;
		@COMMANDS@)
			for o in $objects; do
				printf '.SS %s\n' "$o"
				"$bin" help "$o" | verbatim
			done
			;;
		*) printf '%s\n' "$line" ;;
		esac
	done <"$src"
} >"$tmp"

help2man --no-info --section 8 \
	--name "weighted L4 traffic splitting for Kubernetes canaries" \
	--version-string "$("$bin" --version | awk '{ print $2; exit }')" \
	--include "$tmp" --output "$out.tmp" "$bin"
rm -f "$tmp"
mv "$out.tmp" "$out"
