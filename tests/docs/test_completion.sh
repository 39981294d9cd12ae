#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# bash completion (scripts/completion/l4split.bash) in a real bash: `complete -p l4split`
# names the function, and calls of it set up as bash does (COMP_LINE, COMP_POINT,
# COMP_WORDS, COMP_CWORD) give the objects, a command's options and values, and the
# service names of a real state in a pin directory of its own; silent and quick without
# a state. `make install` puts the page and the completion where man and bash look.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/e2e.sh
BUILD=${BUILD:-build}
L4SPLIT=$(realpath "${L4SPLIT:-$BUILD/l4split}")
PIN=/run/l4s-comp-$$
tmp=$(mktemp -d)
cleanup() {
	[ -e "$PIN/l4s_config" ] && "$L4SPLIT" --pin-dir "$PIN" detach --all --purge >/dev/null 2>&1
	mountpoint -q "$PIN" && umount "$PIN"
	rmdir "$PIN" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# comp LINE: the words the completion offers at the end of LINE (one line, sorted), from a
# fresh bash that sourced the script and knows l4split on its PATH.
comp() {
	env -i PATH="$(dirname "$L4SPLIT"):/usr/sbin:/usr/bin:/sbin:/bin" ${L4SPLIT_PIN_DIR:+L4SPLIT_PIN_DIR=$L4SPLIT_PIN_DIR} \
		bash --norc --noprofile -c '
		source scripts/completion/l4split.bash
		fn=$(complete -p l4split | sed -n "s/.*-F \([^ ]*\) .*/\1/p")
		COMP_LINE=$1 COMP_POINT=${#1}
		# COMP_WORDS as bash splits them: at blanks, and around : and =
		read -ra COMP_WORDS <<<"$(sed "s/\([:=]\)/ \1 /g" <<<"$1")"
		[[ $1 == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		"$fn" l4split "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		[ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' comp "$1"
}

# explain joins once its branch lands: the grammar then lists it, and so must completion.
ex=
"$L4SPLIT" help | grep -q '^ *l4split explain ' && ex="explain "
out=$(bash --norc --noprofile -c 'source scripts/completion/l4split.bash && complete -p l4split' 2>&1)
check "complete -p l4split: the function is registered ($out)" eq "$out" "complete -F _l4split l4split"
check "objects after 'l4split '" eq "$(comp "l4split ")" \
	"agent apply attach backend detach ${ex}help node rollout service stats status sync weight "
check "objects by prefix after 'l4split st'" eq "$(comp "l4split st")" "stats status "
check "global options after 'l4split -'" eq "$(comp "l4split -")" \
	"--debug --help --json --pin-dir --pretty --version -V -d -h -j -p "
check "objects after 'l4split help '" eq "$(comp "l4split help ")" \
	"agent apply attach backend detach ${ex}node rollout service stats status sync weight "
check "commands after 'l4split service '" eq "$(comp "l4split service ")" "add del mode "
check "commands after 'l4split node '" eq "$(comp "l4split node ")" "set show unset "
check "options after 'l4split service add web 10.96.0.10:80/tcp --'" \
	eq "$(comp "l4split service add web 10.96.0.10:80/tcp --")" \
	"--affinity --affinity-timeout --debug --help --json --mode --pin-dir --pretty --table-size --version "
check "values after 'service add web 10.96.0.10:80/tcp --mode '" \
	eq "$(comp "l4split service add web 10.96.0.10:80/tcp --mode ")" "auto dsr nat snat "
check "values after 'attach lo --xdp-mode '" eq "$(comp "l4split attach lo --xdp-mode ")" "generic native "
check "options of rollout after 'l4split rollout web --m'" eq "$(comp "l4split rollout web --m")" \
	"--max-connect-p99-ratio --max-failure-ratio --min-flows "
check "cluster options of weight after 'l4split weight default/web old=1 --a'" \
	eq "$(comp "l4split weight default/web old=1 --a")" "--agent-namespace --agent-port --agent-selector "
check "cluster options of status after 'l4split status default/web --w'" \
	eq "$(comp "l4split status default/web --w")" "--window "
check "files after 'l4split weight default/web --kubeconfig docs/l4split.h'" \
	eq "$(comp "l4split weight default/web --kubeconfig docs/l4split.h")" "docs/l4split.h2m "
check "devices after 'l4split attach l'" eq "$(comp "l4split attach l")" "lo "

# Service names from a real state.
"$L4SPLIT" --pin-dir "$PIN" service add web 10.96.0.10:80/tcp >/dev/null &&
	"$L4SPLIT" --pin-dir "$PIN" service add www 10.96.0.11:80/tcp >/dev/null &&
	"$L4SPLIT" --pin-dir "$PIN" service add db 10.96.0.12:5432/tcp >/dev/null
check "a state with services web, www, db in $PIN" eq "$?" 0
check "service names after 'l4split --pin-dir PIN weight '" \
	eq "$(comp "l4split --pin-dir $PIN weight ")" "db web www "
check "... by prefix after 'l4split --pin-dir=PIN weight w'" \
	eq "$(comp "l4split --pin-dir=$PIN weight w")" "web www "
check "... from \$L4SPLIT_PIN_DIR after 'l4split status '" \
	eq "$(L4SPLIT_PIN_DIR=$PIN comp "l4split status ")" "db web www "
check "... after 'l4split backend add '" eq "$(L4SPLIT_PIN_DIR=$PIN comp "l4split backend add ")" "db web www "
check "none after 'l4split service add ' (a new name)" eq "$(L4SPLIT_PIN_DIR=$PIN comp "l4split service add ")" ""
check "nothing after an ADDR:PORT being typed" eq "$(L4SPLIT_PIN_DIR=$PIN comp "l4split backend add web 10.1.0.1:")" ""

# No state: nothing, silently, quickly.
t0=$(date +%s%N)
out=$(L4SPLIT_PIN_DIR=/run/l4s-comp-none-$$ comp "l4split weight " 2>&1)
ms=$((($(date +%s%N) - t0) / 1000000))
check "no state: no names, no message (got \"$out\")" eq "$out" ""
check "no state: within 1 s (${ms} ms)" test "$ms" -lt 1000
check "no state: none is made" test ! -e /run/l4s-comp-none-$$

# make install: the binary, the page and the completion under DESTDIR and PREFIX.
make -s install BUILD="$BUILD" DESTDIR="$tmp/root" PREFIX=/usr >"$tmp/install.log" 2>&1
check "make install DESTDIR=... PREFIX=/usr succeeds" eq "$?" 0
check "... installs the completion as /usr/share/bash-completion/completions/l4split" \
	cmp -s scripts/completion/l4split.bash "$tmp/root/usr/share/bash-completion/completions/l4split"
check "... and the page as /usr/share/man/man8/l4split.8" \
	cmp -s "$BUILD/l4split.8" "$tmp/root/usr/share/man/man8/l4split.8"
check "... and man finds it there (man -M)" quiet man -M "$tmp/root/usr/share/man" -w l4split
finish
