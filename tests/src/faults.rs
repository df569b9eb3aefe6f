//! A fault injector for the tests: wrappers named like the tools (`ip`, `brctl`, `bridge` …),
//! put first on a binary's PATH, that pass reads through and count every call that changes the
//! host, failing (`FAIL_AT=k`) or hanging (`HANG_AT=k`) the k-th. Each line of an `ip -batch`
//! counts as one change, and a fault there behaves as ip does: the lines before it done,
//! `Command failed -:N` on stderr. Calls are logged to `$FAULT_DIR/log`.

use std::path::Path;

pub const WRAPPER: &str = r#"#!/bin/bash
# Fault injector for the tests: reads pass; the N-th call that changes the host fails or hangs.
name=$(basename "$0")
real=/usr/sbin/$name; [ -x "$real" ] || real=/sbin/$name
if [[ " $* " == *" -j "* ]] || [[ " $* " == *" show "* ]] || [ "$1" = show ]; then exec "$real" "$@"; fi
count() {
  n=$(( $(cat "$FAULT_DIR/count" 2>/dev/null || echo 0) + 1 ))
  echo "$n" > "$FAULT_DIR/count"
  echo "$n $name $*" >> "$FAULT_DIR/log"
}
if [ "$name" = ip ] && [ "$1" = -batch ] && [ "$2" = - ]; then
  # One process, many host changes: each line counts, and a fault at line k behaves as ip
  # does, the lines before it done and `Command failed -:k` on stderr.
  mapfile -t lines
  for i in "${!lines[@]}"; do
    count "${lines[$i]}"
    if [ "$n" = "${FAIL_AT:-0}" ] || [ "$n" = "${HANG_AT:-0}" ]; then
      if [ "$i" -gt 0 ]; then printf '%s\n' "${lines[@]:0:$i}" | "$real" -batch - || exit 1; fi
      if [ "$n" = "${HANG_AT:-0}" ]; then echo $$ > "$FAULT_DIR/hanging"; exec sleep 60; fi
      echo "injected failure at call $n" >&2; echo "Command failed -:$((i + 1))" >&2; exit 1
    fi
  done
  printf '%s\n' "${lines[@]}" | "$real" -batch -
  exit $?
fi
count "$@"
if [ "$n" = "${FAIL_AT:-0}" ]; then echo "injected failure at call $n" >&2; exit 2; fi
if [ "$n" = "${HANG_AT:-0}" ]; then echo $$ > "$FAULT_DIR/hanging"; exec sleep 60; fi
exec "$real" "$@"
"#;

/// Writes the wrapper as `dir/<tool>` for each tool.
pub fn install(dir: &Path, tools: &[&str]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).expect("fault wrapper directory");
    for tool in tools {
        let p = dir.join(tool);
        std::fs::write(&p, WRAPPER).expect("write fault wrapper");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .expect("chmod fault wrapper");
    }
}
