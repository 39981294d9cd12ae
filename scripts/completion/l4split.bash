# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# bash completion for l4split (installed by `make install` as
# $(PREFIX)/share/bash-completion/completions/l4split; or: source this file).
# Objects, commands, options and option values come from the binary's own help
# (`l4split help`, `l4split help OBJECT`), so they follow its grammar; service names
# come from the live state (`l4split --json status`, with the --pin-dir typed on the
# line or $L4SPLIT_PIN_DIR), and nothing is printed when there is none.

# _l4split_forms BIN OBJECT: the usage forms of OBJECT, one a line (continuations joined).
_l4split_forms() {
	"$1" help "$2" 2>/dev/null | awk -v o="$2" '
		NR == 1 && !/^Usage:/ { exit }
		!/^Usage:/ && !/^       / { exit }
		{ sub(/^Usage:/, "") }
		$1 == "l4split" && $2 == o { if (f != "") print f; f = $0; next }
		{ f = f " " $0 }
		END { if (f != "") print f }'
}

# _l4split_services BIN PIN_ARGS...: names of the services in the state.
_l4split_services() {
	local bin=$1
	shift
	"$bin" "$@" --json status 2>/dev/null | grep -o '{"name":"[^"]*"' | cut -d'"' -f4
}

_l4split() {
	local line bin cur obj sub w i form forms objects opts vals
	local -a words pin
	COMPREPLY=()
	if [[ -n ${COMP_LINE-} ]]; then
		line=${COMP_LINE:0:${COMP_POINT:-${#COMP_LINE}}}
	else
		line="${COMP_WORDS[*]:0:COMP_CWORD+1}"
	fi
	# Words as l4split sees them (bash also splits at ':' and '=').
	read -ra words <<<"$line"
	[[ $line == *[[:space:]] || ${#words[@]} -eq 0 ]] && words+=("")
	cur=${words[${#words[@]} - 1]}
	bin=${words[0]}
	case $bin in \~/*) bin=$HOME/${bin:2} ;; esac
	# Global options may stand anywhere: take them out, keep --pin-dir for status.
	local -a args=()
	for ((i = 1; i < ${#words[@]} - 1; i++)); do
		w=${words[i]}
		case $w in
		--pin-dir) pin=(--pin-dir "${words[i + 1]}") && ((i++)) ;;
		--pin-dir=*) pin=("$w") ;;
		-j | --json | -p | --pretty | -d | --debug) ;;
		*) args+=("$w") ;;
		esac
	done
	if [[ ${words[${#words[@]} - 2]-} == --pin-dir ]]; then
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
		return
	fi
	[[ $cur == *[:=]* ]] && return # ADDR:PORT, TRACK=W: nothing to offer
	local globals="-j --json -p --pretty -d --debug --pin-dir -V --version -h --help"
	objects=$("$bin" help 2>/dev/null |
		sed -n 's/^\(Usage:\)\{0,1\} *l4split \([a-z][a-z-]*\).*/\2/p' | awk '!s[$0]++')
	if [[ ${#args[@]} -eq 0 ]]; then
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "$globals" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "$objects help" -- "$cur")
		fi
		return
	fi
	obj=${args[0]}
	if [[ $obj == help ]]; then
		[[ ${#args[@]} -eq 1 ]] && mapfile -t COMPREPLY < <(compgen -W "$objects" -- "$cur")
		return
	fi
	# A unique prefix names an object, as on the command line.
	if ! grep -qx -- "$obj" <<<"$objects"; then
		w=$(grep -- "^$obj" <<<"$objects")
		[[ -n $w && $w != *$'\n'* ]] || return
		obj=$w
	fi
	forms=$(_l4split_forms "$bin" "$obj")
	# Commands: a lower-case word right after the object in a form (node [show] too).
	local subs
	subs=$(awk '{ w = $3; gsub(/[][]/, "", w); if (w ~ /^[a-z][a-z-]*$/) print w }' <<<"$forms" | awk '!s[$0]++')
	sub=
	if [[ -n $subs ]]; then
		if [[ ${#args[@]} -eq 1 ]]; then
			[[ $cur == -* ]] || {
				mapfile -t COMPREPLY < <(compgen -W "$subs" -- "$cur")
				return
			}
		else
			sub=${args[1]}
		fi
	fi
	# The forms of this command, and the previous word when it is an option taking a value.
	form=$(awk -v s="$sub" '{ w = $3; gsub(/[][]/, "", w) } s == "" || w == s' <<<"$forms")
	local prev=${words[${#words[@]} - 2]}
	if [[ $prev == --* ]]; then
		# The token after the option in the grammar: a|b|c are its values.
		vals=$(tr -s ' ' '\n' <<<"$form" | awk -v o="$prev" 'p { print; exit } { gsub(/[][{}]/, "") } $0 == o { p = 1 }')
		vals=${vals//[\]\[\{\}]/}
		case $vals in
		*'|'*) [[ $vals =~ ^[a-z] ]] && mapfile -t COMPREPLY < <(compgen -W "${vals//|/ }" -- "$cur") && return ;;
		FILE* | PATH*) mapfile -t COMPREPLY < <(compgen -f -- "$cur") && return ;;
		[A-Z]*) return ;;
		esac
	fi
	if [[ $cur == -* ]]; then
		opts=$(grep -o -- '--[a-z][a-z0-9-]*' <<<"$form" | awk '!s[$0]++')
		mapfile -t COMPREPLY < <(compgen -W "$opts $globals" -- "$cur")
		return
	fi
	# The first argument after the object (and its command): what the grammar names there.
	local first nsub=0
	[[ -n $sub ]] && nsub=1
	first=$(awk -v n=$((nsub + 3)) '{ w = $n; gsub(/[][{}]/, "", w); print w }' <<<"$form" | sort -u)
	local npos=$((${#args[@]} - 1 - nsub))
	if [[ $npos -eq 0 ]]; then
		if grep -qx NAME <<<"$first" && [[ $sub != add || $obj != service ]]; then
			mapfile -t COMPREPLY < <(compgen -W "$(_l4split_services "$bin" "${pin[@]}")" -- "$cur")
		elif grep -qx DEV <<<"$first"; then
			mapfile -t COMPREPLY < <(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur")
		elif grep -q '^FILE' <<<"$first"; then
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		fi
	fi
}
complete -F _l4split l4split
