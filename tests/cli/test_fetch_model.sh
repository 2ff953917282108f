#!/usr/bin/env bash
# tests/cli/test_fetch_model.sh - scripts/fetch-model: argument handling
# (--dry-run), then real downloads from a loopback busybox httpd that plays
# the Hub: /cgi-bin/hub/NAME/resolve/REV/FILE answers like huggingface.co
# (a 302 to the file, with X-Linked-Etag = sha256 and X-Linked-Size for LFS
# files, or a 404), and a plain directory NAME/resolve/REV/FILE stands for a
# mirror that publishes no checksums.
set -u
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

fetch=scripts/fetch-model
pinned=4c8334b02c6ec4e8664a91979669a501ec497792
tmp=$(mktemp -d "$JEN1_TEST_TMP/fetch-model.XXXXXX")
tmp=$(cd "$tmp" && pwd)
server_pid=''
# shellcheck disable=SC2317  # called by the trap
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf -- "$tmp"
}
trap cleanup EXIT
unset HF_TOKEN HF_ENDPOINT JEN1_MODEL_DIR JEN1_TEXT_MODEL_DIR

# ---- Arguments (--dry-run: nothing is downloaded) -------------------------------

out=$("$fetch" --dry-run facebook/musicgen-small 2>&1)
listed=1
for f in config.json generation_config.json model.safetensors spiece.model; do
    grep -qx "https://huggingface.co/facebook/musicgen-small/resolve/$pinned/$f" <<<"$out" || listed=0
done
if grep -q "into /var/lib/jen1/models/musicgen-small$" <<<"$out" && [ "$listed" -eq 1 ]; then
    t_ok "defaults: /var/lib/jen1/models/<name>, huggingface.co, the pinned commit, the four files"
else
    t_fail "defaults: /var/lib/jen1/models/<name>, huggingface.co, the pinned commit, the four files" "$out"
fi
t_check "dry run lists the optional files as optional" grep -q "tokenizer_config.json (optional)" <<<"$out"
# The weights' licence, said before anything is fetched (issue 10, finding 9).
t_check "the licence comes first: musicgen is non-commercial" \
    grep -q "^fetch-model: licence of the weights: CC-BY-NC-4.0: non-commercial" <<<"$(head -n 2 <<<"$out")"
t_check "Qwen2.5-0.5B-Instruct is Apache-2.0" \
    grep -q "licence of the weights: Apache-2.0" <<<"$("$fetch" --dry-run Qwen/Qwen2.5-0.5B-Instruct 2>&1)"
t_check "Qwen2.5-1.5B-Instruct is Apache-2.0" \
    grep -q "licence of the weights: Apache-2.0" <<<"$("$fetch" --dry-run Qwen/Qwen2.5-1.5B-Instruct 2>&1)"
t_check "Qwen2.5-3B-Instruct is not for commercial use" \
    grep -q "licence of the weights: Qwen Research License.*no commercial use" \
    <<<"$("$fetch" --dry-run Qwen/Qwen2.5-3B-Instruct 2>&1)"
t_check "any other model: read its card" grep -q "licence of the weights: unknown to this script" \
    <<<"$("$fetch" --dry-run acme/other 2>&1)"

# dry_run_prints NAME LINE [VAR=VALUE...] -- ARGS...: passes when the dry run
# of ARGS, in an environment with the VAR=VALUEs, prints LINE (a whole line).
dry_run_prints() {
    local name=$1 line=$2 env=() out
    shift 2
    while [ "$1" != -- ]; do env+=("$1"); shift; done
    shift
    out=$(env "${env[@]}" "$fetch" --dry-run "$@" 2>&1)
    if grep -qxF -- "$line" <<<"$out"; then t_ok "$name"; else t_fail "$name" "no line '$line' in: $out"; fi
}
hf=https://huggingface.co
dry_run_prints "JEN1_MODEL_DIR sets the destination" \
    "fetch-model: facebook/musicgen-small@$pinned from $hf into /srv/m" \
    JEN1_MODEL_DIR=/srv/m -- facebook/musicgen-small
dry_run_prints "--dest overrides JEN1_MODEL_DIR" \
    "fetch-model: facebook/musicgen-small@$pinned from $hf into /srv/other" \
    JEN1_MODEL_DIR=/srv/m -- --dest /srv/other facebook/musicgen-small
dry_run_prints "--revision overrides the pinned commit" \
    "$hf/facebook/musicgen-small/resolve/v1.0/config.json" -- --revision v1.0 facebook/musicgen-small
dry_run_prints "an unpinned model defaults to main" \
    "$hf/acme/other/resolve/main/spiece.model" -- acme/other
dry_run_prints "HF_ENDPOINT sets the endpoint" \
    "http://mirror.test/acme/other/resolve/main/config.json" HF_ENDPOINT=http://mirror.test/ -- acme/other
dry_run_prints "--endpoint overrides HF_ENDPOINT" \
    "http://other.test/acme/other/resolve/main/config.json" \
    HF_ENDPOINT=http://mirror.test -- --endpoint=http://other.test acme/other
out=$(HF_TOKEN=hf_NotToBePrinted42 "$fetch" --dry-run acme/other 2>&1)
if grep -q "HF_TOKEN is set" <<<"$out" && ! grep -q NotToBePrinted <<<"$out"; then
    t_ok "HF_TOKEN is announced but never printed"
else
    t_fail "HF_TOKEN is announced but never printed" "$out"
fi


# Text models: Qwen2.5 instruct checkpoints.
out=$("$fetch" --dry-run Qwen/Qwen2.5-0.5B-Instruct 2>&1)
listed=1
for f in config.json generation_config.json tokenizer.json tokenizer_config.json vocab.json merges.txt \
         model.safetensors; do
    grep -qx "$hf/Qwen/Qwen2.5-0.5B-Instruct/resolve/main/$f" <<<"$out" || listed=0
done
if [ "$listed" -eq 1 ] && grep -q "into /var/lib/jen1/models/Qwen2.5-0.5B-Instruct$" <<<"$out" \
   && grep -q "model.safetensors.index.json (when model.safetensors is absent" <<<"$out" \
   && ! grep -q spiece.model <<<"$out"; then
    t_ok "a Qwen text model: its seven files at main, the shard index as the fallback, no spiece.model"
else
    t_fail "a Qwen text model: its seven files at main, the shard index as the fallback, no spiece.model" "$out"
fi
dry_run_prints "JEN1_TEXT_MODEL_DIR sets a text model's destination" \
    "fetch-model: Qwen/Qwen2.5-1.5B-Instruct@main from $hf into /srv/text" \
    JEN1_MODEL_DIR=/srv/m JEN1_TEXT_MODEL_DIR=/srv/text -- Qwen/Qwen2.5-1.5B-Instruct
dry_run_prints "--kind text for another name" "$hf/acme/my-qwen/resolve/main/merges.txt" -- --kind text acme/my-qwen
dry_run_prints "--kind music for a Qwen/ name" "$hf/Qwen/other/resolve/main/spiece.model" -- --kind=music Qwen/other
t_check_fails "--kind that is neither" "--kind must be music or text" "$fetch" --dry-run --kind words a/b
t_check_fails "--sha256 of a shard of a music model" "is not one of the files fetched" \
    "$fetch" --dry-run --sha256 "model-00001-of-00002.safetensors=$(printf 'a%.0s' $(seq 64))" a/b

t_check_fails "missing NAME" "missing NAME" "$fetch" --dry-run
t_check_fails "NAME without an owner" "NAME must be owner/name" "$fetch" --dry-run musicgen-small
t_check_fails "NAME with a path in it" "NAME must be owner/name" "$fetch" --dry-run a/b/c
t_check_fails "NAME climbing out" "NAME must be owner/name" "$fetch" --dry-run ../etc
t_check_fails "two NAMEs" "one NAME only" "$fetch" --dry-run a/b c/d
t_check_fails "an unknown option" "unknown option '--frobnicate'" "$fetch" --frobnicate a/b
t_check_fails "--revision without a value" "--revision needs a value" "$fetch" --dry-run a/b --revision
t_check_fails "--endpoint that is not http(s)" "--endpoint must be an http" \
    "$fetch" --dry-run --endpoint ftp://x a/b
t_check_fails "--sha256 without 64 hex digits" "--sha256 needs FILE=HEX" \
    "$fetch" --dry-run --sha256 model.safetensors=abcd a/b
echo "a file" >"$tmp/a-file"
t_check_fails "a destination that cannot be created" "cannot create the destination $tmp/a-file/model" \
    "$fetch" --endpoint http://127.0.0.1:9 --dest "$tmp/a-file/model" a/b

# ---- A loopback Hub ---------------------------------------------------------------

if ! command -v busybox >/dev/null; then
    t_fail "loopback server" "busybox is not installed (scripts/setup installs it)"
    t_summary test_fetch_model
fi

www=$tmp/www
rev=0123456789abcdef0123456789abcdef01234567
repo=$www/files/acme/tiny/$rev
mkdir -p "$repo" "$www/cgi-bin"
echo '{"model_type": "musicgen"}' >"$repo/config.json"
echo '{"guidance_scale": 3.0}' >"$repo/generation_config.json"
echo '{"tokenizer_class": "T5Tokenizer"}' >"$repo/tokenizer_config.json"
head -c 300000 /dev/urandom >"$repo/model.safetensors"
head -c 5000 /dev/urandom >"$repo/spiece.model"
# The LFS files: the hub announces their sha256.
for f in model.safetensors spiece.model; do
    sha256sum "$repo/$f" | cut -d' ' -f1 >"$repo/$f.etag"
done
model_sha=$(cat "$repo/model.safetensors.etag")
# A repository without spiece.model.
mkdir -p "$www/files/acme/broken/$rev"
cp "$repo/config.json" "$repo/generation_config.json" "$repo/model.safetensors" "$www/files/acme/broken/$rev/"
# The same files as a plain mirror directory.
mkdir -p "$www/plain/acme/tiny/resolve"
cp -r "$repo" "$www/plain/acme/tiny/resolve/$rev"
rm "$www/plain/acme/tiny/resolve/$rev"/*.etag

# Text models: one with model.safetensors, one sharded like Qwen2.5-3B.
qwen=$www/files/Qwen/Qwen2.5-0.5B-Instruct/$rev
mkdir -p "$qwen"
for f in config.json generation_config.json tokenizer.json tokenizer_config.json vocab.json; do
    echo '{"file": "'"$f"'"}' >"$qwen/$f"
done
printf '#version: 0.2\nt h\n' >"$qwen/merges.txt"
head -c 200000 /dev/urandom >"$qwen/model.safetensors"
sha256sum "$qwen/model.safetensors" | cut -d' ' -f1 >"$qwen/model.safetensors.etag"
text_files=(config.json generation_config.json tokenizer.json tokenizer_config.json vocab.json merges.txt)
sharded=$www/files/Qwen/Qwen2.5-3B-Instruct/$rev
mkdir -p "$sharded"
for f in "${text_files[@]}"; do cp "$qwen/$f" "$sharded/"; done
for n in 1 2; do
    head -c $((50000 * n)) /dev/urandom >"$sharded/model-0000$n-of-00002.safetensors"
    sha256sum "$sharded/model-0000$n-of-00002.safetensors" | cut -d' ' -f1 \
        >"$sharded/model-0000$n-of-00002.safetensors.etag"
done
echo '{"metadata": {"total_size": 150000},
 "weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                "model.norm.weight": "model-00002-of-00002.safetensors",
                "model.layers.0.mlp.up_proj.weight": "model-00001-of-00002.safetensors"}}' \
    >"$sharded/model.safetensors.index.json"
# A text model whose index names a path outside the model, and one without weights.
for bad in evil noweights; do
    mkdir -p "$www/files/Qwen/$bad/$rev"
    for f in "${text_files[@]}"; do cp "$qwen/$f" "$www/files/Qwen/$bad/$rev/"; done
done
echo '{"weight_map": {"a": "../../etc/passwd"}}' >"$www/files/Qwen/evil/$rev/model.safetensors.index.json"

cat >"$www/cgi-bin/hub" <<'EOF'
#!/bin/sh
# PATH_INFO = /OWNER/NAME/resolve/REV/FILE -> 302 to /files/OWNER/NAME/REV/FILE.
root=..
echo "$REQUEST_METHOD $PATH_INFO auth=${HTTP_AUTHORIZATION:-none}" >>"$root/requests.log"
IFS=/ read -r _ owner name kind rev file <<END
$PATH_INFO
END
path=files/$owner/$name/$rev/$file
if [ "$kind" != resolve ] || [ ! -f "$root/$path" ]; then
    printf 'HTTP/1.1 404 Not Found\r\nX-Error-Code: EntryNotFound\r\nContent-Length: 0\r\n\r\n'
    exit 0
fi
printf 'HTTP/1.1 302 Found\r\nLocation: /%s\r\nX-Repo-Commit: %s\r\n' "$path" "$rev"
if [ -f "$root/$path.etag" ]; then
    printf 'X-Linked-Etag: "%s"\r\n' "$(cat "$root/$path.etag")"
    printf 'X-Linked-Size: %s\r\n' "$(wc -c <"$root/$path")"
fi
printf 'Content-Length: 0\r\n\r\n'
EOF
chmod +x "$www/cgi-bin/hub"

# A free port is found by trying: busybox exits at once when the bind fails.
port=''
for _ in 1 2 3 4 5 6 7 8 9 10; do
    try=$((20000 + RANDOM % 40000))
    busybox httpd -f -vv -p "127.0.0.1:$try" -h "$www" 2>"$tmp/httpd.log" &
    server_pid=$!
    for _ in $(seq 50); do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            wait "$server_pid" 2>/dev/null
            server_pid=''
            break
        fi
        if curl -s -o /dev/null "http://127.0.0.1:$try/"; then
            port=$try
            break 2
        fi
        sleep 0.1
    done
    if [ -n "$server_pid" ]; then
        kill "$server_pid"
        wait "$server_pid" 2>/dev/null
        server_pid=''
    fi
done
if [ -z "$port" ]; then
    t_fail "loopback server" "busybox httpd did not start: $(cat "$tmp/httpd.log")"
    t_summary test_fetch_model
fi
hub=http://127.0.0.1:$port/cgi-bin/hub

# ---- Downloads ----------------------------------------------------------------------

dest=$tmp/dest
rc=0
out=$(HF_TOKEN=hf_LoopbackToken7 "$fetch" --endpoint "$hub" --revision "$rev" --dest "$dest" acme/tiny 2>&1) \
    || rc=$?
if [ "$rc" -eq 0 ] && cmp -s "$repo/model.safetensors" "$dest/model.safetensors" \
   && cmp -s "$repo/spiece.model" "$dest/spiece.model" && cmp -s "$repo/config.json" "$dest/config.json" \
   && cmp -s "$repo/generation_config.json" "$dest/generation_config.json" \
   && cmp -s "$repo/tokenizer_config.json" "$dest/tokenizer_config.json"; then
    t_ok "downloads every file byte for byte"
else
    t_fail "downloads every file byte for byte" "exit $rc: $out"
fi
t_check "model.safetensors is checked against X-Linked-Etag" grep -q "model.safetensors (sha256 ok)" <<<"$out"
t_check "absent optional files are skipped" \
    grep -q "tokenizer.json: not in the repository (optional, skipped)" <<<"$out"
if [ -z "$(find "$dest" -name '*.part')" ] && [ ! -e "$dest/tokenizer.json" ]; then
    t_ok "no .part files or placeholders are left"
else
    t_fail "no .part files or placeholders are left" "$(ls -A "$dest")"
fi
t_check "HF_TOKEN reaches the hub as a bearer token" \
    grep -q "auth=Bearer hf_LoopbackToken7" "$www/requests.log"
t_check "HF_TOKEN is not printed" bash -c '! grep -q LoopbackToken' <<<"$out"

out=$("$fetch" --endpoint "$hub" --revision "$rev" --dest "$dest" acme/tiny 2>&1)
t_check "a verified file is not downloaded again" \
    grep -q "model.safetensors (sha256 ok, already there)" <<<"$out"

dest=$tmp/resume
mkdir -p "$dest"
head -c 120000 "$repo/model.safetensors" >"$dest/model.safetensors.part"
: >"$tmp/httpd.log"
rc=0
out=$("$fetch" --endpoint "$hub" --revision "$rev" --dest "$dest" acme/tiny 2>&1) || rc=$?
if [ "$rc" -eq 0 ] && cmp -s "$repo/model.safetensors" "$dest/model.safetensors" \
   && grep -q "response:206" "$tmp/httpd.log"; then
    t_ok "a partial .part download is resumed (HTTP 206) and verified"
else
    t_fail "a partial .part download is resumed (HTTP 206) and verified" "$out"
fi

dest=$tmp/bad-etag
echo 0000000000000000000000000000000000000000000000000000000000000000 >"$repo/model.safetensors.etag"
rc=0
out=$("$fetch" --endpoint "$hub" --revision "$rev" --dest "$dest" acme/tiny 2>&1) || rc=$?
refusal="model.safetensors: sha256 mismatch: got $model_sha, server says 0000"
if [ "$rc" -ne 0 ] && grep -q "$refusal" <<<"$out" \
   && [ ! -e "$dest/model.safetensors" ] && [ ! -e "$dest/model.safetensors.part" ]; then
    t_ok "a download that does not match X-Linked-Etag is refused and deleted"
else
    t_fail "a download that does not match X-Linked-Etag is refused and deleted" "exit $rc: $out"
fi
echo "$model_sha" >"$repo/model.safetensors.etag"

t_check_fails "a download that does not match --sha256 is refused" \
    "sha256 mismatch: got $model_sha, --sha256 says ffff" \
    "$fetch" --endpoint "$hub" --revision "$rev" --dest "$tmp/bad-option" \
    --sha256 "model.safetensors=$(printf 'f%.0s' $(seq 64))" acme/tiny
t_check_fails "a repository without spiece.model" "spiece.model: not found \(HTTP 404\)" \
    "$fetch" --endpoint "$hub" --revision "$rev" --dest "$tmp/broken" acme/broken

# A plain mirror publishes no checksums; --sha256 supplies one.
dest=$tmp/plain
rc=0
out=$("$fetch" --endpoint "http://127.0.0.1:$port/plain" --revision "$rev" --dest "$dest" \
      --sha256 "model.safetensors=$model_sha" acme/tiny 2>&1) || rc=$?
if [ "$rc" -eq 0 ] && cmp -s "$repo/model.safetensors" "$dest/model.safetensors" \
   && grep -q "model.safetensors (sha256 ok)" <<<"$out" \
   && grep -q "spiece.model (no checksum published)" <<<"$out"; then
    t_ok "a plain mirror works, checked against --sha256"
else
    t_fail "a plain mirror works, checked against --sha256" "$out"
fi

# Without any checksum, resuming keeps the bytes already there: proof that the
# transfer continued rather than restarted.
dest=$tmp/resume-plain
mkdir -p "$dest"
head -c 1000 /dev/zero >"$dest/model.safetensors.part"
"$fetch" --endpoint "http://127.0.0.1:$port/plain" --revision "$rev" --dest "$dest" acme/tiny >/dev/null 2>&1
if cmp -s <(head -c 1000 /dev/zero; tail -c +1001 "$repo/model.safetensors") "$dest/model.safetensors"; then
    t_ok "resuming continues after the bytes of the .part"
else
    t_fail "resuming continues after the bytes of the .part" "the file was not resumed from byte 1000"
fi

# ---- Text models ----------------------------------------------------------------------

dest=$tmp/qwen
rc=0
out=$("$fetch" --endpoint "$hub" --revision "$rev" --dest "$dest" Qwen/Qwen2.5-0.5B-Instruct 2>&1) || rc=$?
same=1
for f in "${text_files[@]}" model.safetensors; do
    cmp -s "$qwen/$f" "$dest/$f" || same=0
done
if [ "$rc" -eq 0 ] && [ "$same" -eq 1 ] && grep -q "model.safetensors (sha256 ok)" <<<"$out" \
   && grep -q "LICENSE: not in the repository (optional, skipped)" <<<"$out" \
   && [ ! -e "$dest/spiece.model" ] && [ ! -e "$dest/model.safetensors.index.json" ]; then
    t_ok "a Qwen text model: every file byte for byte, model.safetensors checked"
else
    t_fail "a Qwen text model: every file byte for byte, model.safetensors checked" "exit $rc: $out"
fi

dest=$tmp/qwen-sharded
rc=0
out=$("$fetch" --endpoint "$hub" --revision "$rev" --dest "$dest" Qwen/Qwen2.5-3B-Instruct 2>&1) || rc=$?
if [ "$rc" -eq 0 ] && cmp -s "$sharded/model.safetensors.index.json" "$dest/model.safetensors.index.json" \
   && cmp -s "$sharded/model-00001-of-00002.safetensors" "$dest/model-00001-of-00002.safetensors" \
   && cmp -s "$sharded/model-00002-of-00002.safetensors" "$dest/model-00002-of-00002.safetensors" \
   && grep -q "model-00002-of-00002.safetensors (sha256 ok)" <<<"$out" \
   && grep -q "the weights are the 2 shards of model.safetensors.index.json" <<<"$out" \
   && [ ! -e "$dest/model.safetensors" ]; then
    t_ok "a sharded text model: the index and each shard it lists, each checked"
else
    t_fail "a sharded text model: the index and each shard it lists, each checked" "exit $rc: $out"
fi
t_check_fails "an index naming a path outside the model is refused" \
    "'../../etc/passwd' is not a shard name" \
    "$fetch" --endpoint "$hub" --revision "$rev" --dest "$tmp/evil/model" Qwen/evil
t_check "... and nothing is fetched outside the destination" test ! -e "$tmp/etc"
t_check_fails "a text model without weights" "neither model.safetensors nor model.safetensors.index.json" \
    "$fetch" --endpoint "$hub" --revision "$rev" --dest "$tmp/noweights" Qwen/noweights

t_summary test_fetch_model
