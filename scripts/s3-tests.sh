#!/usr/bin/env bash
# Runs ceph's s3-tests (Python, boto3) against Strata's S3 API, or against any S3 endpoint, minus
# the features Strata does not support, and prints passed / failed / error counts.
#
#   scripts/s3-tests.sh [options] <s3-tests-checkout> [pytest args ...]
#
# Options:
#   --strata BIN             start a fresh `strata dev` from BIN (free ports, temporary data dir)
#                            and test its S3 listener (default target; BIN defaults to $STRATA_BIN,
#                            else target/release/strata)
#   --endpoint URL           test an S3 server that is already running instead (with the two below)
#   --s3s-fs                 start a fresh s3s-fs 0.14.1 (local-disk S3 server, installed from
#                            crates.io on first use) as a stand-in and test that
#   --access-key K --secret-key S
#                            its key pair (the "main" user)
#   --region R               its region for request signing (default us-east-1)
#   --alt-access-key K --alt-secret-key S
#                            a second user, if the server has one (default: the main pair again)
#   --skip-alt-user          deselect the tests that use the alt or tenant user (see below)
#   --strict-cleanup         run the suite's bucket cleanup as it is: it needs ListObjectVersions
#                            (by default it falls back to ListObjectsV2 where that is missing)
#   --allow FEATURE          run the tests of FEATURE although it is listed unsupported (repeatable)
#   --all-features           exclude nothing
#   --list-features          print the unsupported features and how each is excluded, then exit
#   --log-dir DIR            where the config, logs and results go (default ./s3-tests-logs/<target>)
#   --venv DIR               Python venv for the suite (default ~/.cache/strata-s3-tests-venv)
# Anything after the checkout goes to pytest, e.g. `-k bucket_list` or `-x`; pytest's default
# selection is the checkout's functional test directory.
#
# Nothing is fetched from GitHub at run time: the checkout must already be there. The suite's
# Python requirements (boto3, pytest, ...) come from PyPI into the venv, once.
set -uo pipefail

# The features Strata does not support, excluded by the checkout's pytest markers (pytest.ini)
# and, since many of their tests carry no marker, by words in the test names (pytest -k), and
# whole test files. One line per feature: name | markers | name words | files.
unsupported_features='
versioning        | versioning delete_marker | versioning versioned delete_marker object_version objects_version null_version |
lifecycle         | lifecycle lifecycle_expiration lifecycle_transition cloud_transition cloud_restore | lifecycle restore_object |
encryption        | encryption sse_s3 bucket_encryption | encryption encrypted sse_kms sse_c sse_s3 |
bucket-policy     | bucket_policy | policy |
public-access     | | public_block block_public ignore_public_acls |
website           | s3website s3website_routing_rules s3website_redirect_location | website |
cors              | | cors |
object-lock       | object_lock | object_lock |
append            | appendobject | append |
iam-sts           | iam_account iam_cross_account iam_role iam_user user_policy role_policy session_policy group group_policy test_of_sts webidentity_test abac_test token_claims_trust_policy_test token_principal_tag_role_policy_test token_request_tag_trust_policy_test token_resource_tags_test token_role_tags_test token_tag_keys_test | | test_iam.py test_sts.py
s3select          | s3select | | test_s3select.py
tenant            | iam_tenant | tenant |
logging           | bucket_logging bucket_logging_cleanup fails_without_logging_rollover target_by_bucket | logging |
notifications     | sns | | test_sns.py
storage-class     | storage_class | storage_class |
object-ownership  | object_ownership | ownership |
acl               | | acl grant access_bucket |
rgw-only          | fails_on_aws | |
sigv2             | auth_aws2 | aws2 |
post-object       | | post_object |
'
# sigv2: AWS's deprecated signature version 2 (Strata verifies SigV4 only); post-object: browser
# form uploads (POST Object with a signed policy), not offered.
# rgw-only: tests of Ceph RGW behaviour that AWS S3 does not have (marked fails_on_aws); Strata
# follows AWS.

target=strata
strata_bin=${STRATA_BIN:-}
endpoint=
access_key=
secret_key=
alt_access_key=
alt_secret_key=
region=us-east-1
skip_alt_user=no
strict_cleanup=no
allowed=()
all_features=no
log_dir=
venv=${S3_TESTS_VENV:-$HOME/.cache/strata-s3-tests-venv}

usage() { sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; }

feature_lines() { grep -v '^[[:space:]]*$' <<<"$unsupported_features"; }
# Field N (2 markers, 3 words, 4 files) of the features that are excluded in this run.
excluded_field() {
    local n=$1 line name
    [[ $all_features == yes ]] && return 0
    while IFS= read -r line; do
        name=$(awk -F'|' '{ gsub(/ /, "", $1); print $1 }' <<<"$line")
        [[ " ${allowed[*]} " == *" $name "* ]] && continue
        awk -F'|' -v n="$n" '{ print $n }' <<<"$line"
    done < <(feature_lines) | tr -s ' \n' '\n\n' | grep -v '^$'
}

while [[ $# -gt 0 ]]; do
    case $1 in
    --strata) strata_bin=$2; shift 2 ;;
    --endpoint) endpoint=$2; target=endpoint; shift 2 ;;
    --s3s-fs) target=s3s-fs; shift ;;
    --access-key) access_key=$2; shift 2 ;;
    --secret-key) secret_key=$2; shift 2 ;;
    --region) region=$2; shift 2 ;;
    --alt-access-key) alt_access_key=$2; shift 2 ;;
    --alt-secret-key) alt_secret_key=$2; shift 2 ;;
    --skip-alt-user) skip_alt_user=yes; shift ;;
    --strict-cleanup) strict_cleanup=yes; shift ;;
    --allow) allowed+=("$2"); shift 2 ;;
    --all-features) all_features=yes; shift ;;
    --list-features)
        printf '%-17s| %s\n' feature 'markers | test-name words | files'
        feature_lines
        exit 0
        ;;
    --log-dir) log_dir=$2; shift 2 ;;
    --venv) venv=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    -*) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
    *) break ;;
    esac
done
if [[ $# -lt 1 ]]; then
    usage >&2
    exit 2
fi
checkout=$(cd "$1" && pwd) || { echo "no such directory: $1" >&2; exit 2; }
shift
pytest_extra=("$@")

for name in "${allowed[@]}"; do
    feature_lines | awk -F'|' '{ gsub(/ /, "", $1); print $1 }' | grep -qx -- "$name" ||
        { echo "--allow $name: not a listed feature (see --list-features)" >&2; exit 2; }
done

# The boto3 suite lives in s3tests/functional now and lived in s3tests_boto3/functional before.
if [[ -d $checkout/s3tests_boto3/functional ]]; then
    suite_dir=s3tests_boto3/functional
elif [[ -d $checkout/s3tests/functional ]]; then
    suite_dir=s3tests/functional
else
    echo "$checkout does not look like a ceph/s3-tests checkout (no s3tests/functional)" >&2
    exit 2
fi

repo_root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/s3-common.sh
source "$repo_root/scripts/s3-common.sh"

if [[ $target == strata ]]; then
    [[ -n $strata_bin ]] || strata_bin=$repo_root/target/release/strata
    [[ -x $strata_bin ]] || { echo "strata binary not found at $strata_bin (use --strata)" >&2; exit 2; }
elif [[ $target == endpoint ]]; then
    [[ -n $access_key && -n $secret_key ]] || { echo "--endpoint needs --access-key and --secret-key" >&2; exit 2; }
fi
[[ -n $log_dir ]] || log_dir=$PWD/s3-tests-logs/$target
mkdir -p "$log_dir"
log_dir=$(cd "$log_dir" && pwd)

# The venv: created once, reinstalled when the checkout's requirements change.
ensure_venv() {
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        local sudo=
        [[ $(id -u) -ne 0 ]] && sudo=sudo
        $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    local stamp=$venv/.requirements.sha256 wanted
    wanted=$(cat "$checkout/requirements.txt" <(echo pytest-timeout) | sha256sum | cut -d' ' -f1)
    if [[ -f $stamp && $(cat "$stamp") == "$wanted" ]]; then
        return 0
    fi
    echo "installing the suite's Python requirements into $venv ..." >&2
    python3 -m venv "$venv" &&
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$checkout/requirements.txt" pytest-timeout &&
        echo "$wanted" >"$stamp"
}
ensure_venv || { echo "could not set up the Python venv at $venv" >&2; exit 1; }

trap 's3_server_stop; exit 130' INT TERM
trap s3_server_stop EXIT

if [[ $target == strata ]]; then
    strata_dev_start "$strata_bin" "$log_dir/strata-dev.log" || exit 1
    endpoint=$S3_ENDPOINT
    access_key=$S3_ACCESS_KEY
    secret_key=$S3_SECRET_KEY
    region=$S3_REGION
    echo "strata dev: S3 at $endpoint (log: $log_dir/strata-dev.log)"
elif [[ $target == s3s-fs ]]; then
    s3s_fs_start "$log_dir/s3s-fs.log" || exit 1
    endpoint=$S3_ENDPOINT
    access_key=$S3_ACCESS_KEY
    secret_key=$S3_SECRET_KEY
    echo "s3s-fs: S3 at $endpoint (log: $log_dir/s3s-fs.log)"
fi
one_key_pair=no
if [[ -z $alt_access_key ]]; then
    # One key pair: the alt and tenant users ARE the main user. Tests that only need a second
    # set of buckets still pass; tests that expect the alt user to be refused access to the main
    # user's buckets (ACL grants, cross-user AccessDenied, BucketAlreadyExists vs OwnedByYou)
    # fail. --skip-alt-user deselects them all; the summary counts them either way.
    one_key_pair=yes
    alt_access_key=$access_key
    alt_secret_key=$secret_key
fi

# s3tests.conf: every section the suite's configure() reads must be present, even for features
# that are excluded (the iam sections use the main pair; their tests do not run).
conf=$log_dir/s3tests.conf
python3 - "$conf" "$endpoint" "$access_key" "$secret_key" "$alt_access_key" "$alt_secret_key" <<'EOF'
import sys, urllib.parse
conf, endpoint, ak, sk, alt_ak, alt_sk = sys.argv[1:]
url = urllib.parse.urlsplit(endpoint)
secure = url.scheme == "https"
port = url.port or (443 if secure else 80)
user = lambda name, a, s, uid: f"""
[{name}]
display_name = {uid}
user_id = {uid}
email = {uid}@example.com
access_key = {a}
secret_key = {s}
"""
with open(conf, "w") as f:
    f.write(f"""[DEFAULT]
host = {url.hostname}
port = {port}
is_secure = {secure}
ssl_verify = False

[fixtures]
bucket prefix = s3tests-{{random}}-
iam name prefix = s3-tests-
iam path prefix = /s3-tests/
""")
    f.write(user("s3 main", ak, sk, "main") + "api_name = default\n")
    f.write(user("s3 alt", alt_ak, alt_sk, "alt"))
    f.write(user("s3 tenant", alt_ak, alt_sk, "tenant") + "tenant = testx\n")
    f.write(user("iam", ak, sk, "iam"))
    f.write(user("iam root", ak, sk, "iamroot"))
    f.write(user("iam alt root", alt_ak, alt_sk, "iamaltroot"))
EOF

# The tests that use the alt or tenant user, directly or through a helper of the suite.
alt_user_tests=$log_dir/alt-user-tests.txt
"$venv/bin/python" - "$checkout/$suite_dir" >"$alt_user_tests" <<'EOF'
import ast, pathlib, sys
calls, tests = {}, set()
for path in pathlib.Path(sys.argv[1]).glob("*.py"):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
            calls.setdefault(node.name, set()).update(names)
            if node.name.startswith("test_"):
                tests.add(node.name)
uses = {n for n in calls if n.startswith(("get_alt_", "get_tenant_"))}
while True:
    more = {f for f, names in calls.items() if f not in uses and names & uses}
    if not more:
        break
    uses |= more
print("\n".join(sorted(tests & uses)))
EOF

# A small pytest plugin (the checkout is not modified):
# - deselects the test functions named in $S3TESTS_DESELECT (exact names, so that deselecting
#   test_x leaves test_x_y alone, unlike --deselect's prefix match);
# - unless $S3TESTS_STRICT_CLEANUP is set, lets the suite's bucket cleanup (run before and after
#   EVERY test) work on a server without ListObjectVersions: it lists with ListObjectsV2 instead
#   and notes that in $S3TESTS_FALLBACK_NOTE. Without it, on such a server every test errors in
#   its setup and the run says nothing about the rest of the API.
plugin_dir=$log_dir/plugin
mkdir -p "$plugin_dir"
cat >"$plugin_dir/strata_s3tests_plugin.py" <<'EOF'
import os
import sys

def _list_current_objects(client, bucket, batch_size):
    kwargs = {"Bucket": bucket, "MaxKeys": batch_size}
    while True:
        listing = client.list_objects_v2(**kwargs)
        objs = [{"Key": o["Key"]} for o in listing.get("Contents", [])]
        if objs:
            yield objs
        if not listing.get("IsTruncated"):
            return
        kwargs["ContinuationToken"] = listing["NextContinuationToken"]

def _patch_cleanup():
    functional = sys.modules.get("s3tests.functional") or sys.modules.get("s3tests_boto3.functional")
    if functional is None or not hasattr(functional, "list_versions"):
        return
    original = functional.list_versions
    note = os.environ.get("S3TESTS_FALLBACK_NOTE")

    def list_versions(client, bucket, batch_size):
        try:
            batches = original(client, bucket, batch_size)
            first = next(batches, None)
        except Exception as e:
            if "NotImplemented" not in str(e):
                raise
            if note and not os.path.exists(note):
                with open(note, "w") as f:
                    f.write("ListObjectVersions is not implemented: bucket cleanup used ListObjectsV2\n")
            yield from _list_current_objects(client, bucket, batch_size)
            return
        if first is not None:
            yield first
            yield from batches

    functional.list_versions = list_versions

def pytest_collection_modifyitems(config, items):
    if not os.environ.get("S3TESTS_STRICT_CLEANUP"):
        _patch_cleanup()
    path = os.environ.get("S3TESTS_DESELECT")
    if not path:
        return
    names = set(open(path).read().split())
    drop = [i for i in items if (getattr(i, "originalname", None) or i.name) in names]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [i for i in items if i not in drop]
EOF

markers=$(excluded_field 2 | sort -u | paste -sd' ' | sed 's/ / or /g')
words=$(excluded_field 3 | sort -u | paste -sd' ' | sed 's/ / or /g')
ignores=()
while read -r file; do
    [[ -n $file ]] && ignores+=("--ignore=$suite_dir/$file")
done < <(excluded_field 4 | sort -u)
# pytest keeps only the last -m and -k: fold the caller's into ours. A caller's path or node id
# replaces the default of the whole suite directory.
user_markers=
user_words=
passthrough=()
has_path=no
while [[ ${#pytest_extra[@]} -gt 0 ]]; do
    arg=${pytest_extra[0]}
    pytest_extra=("${pytest_extra[@]:1}")
    case $arg in
    -m) user_markers=${pytest_extra[0]:-}; pytest_extra=("${pytest_extra[@]:1}") ;;
    -k) user_words=${pytest_extra[0]:-}; pytest_extra=("${pytest_extra[@]:1}") ;;
    *)
        passthrough+=("$arg")
        [[ $arg != -* && ( -e $checkout/${arg%%::*} || $arg == *::* ) ]] && has_path=yes
        ;;
    esac
done
[[ $has_path == yes ]] || passthrough+=("$suite_dir")
combine() { # caller's expression, our exclusions -> one expression
    if [[ -n $1 && -n $2 ]]; then echo "($1) and not ($2)"; elif [[ -n $2 ]]; then echo "not ($2)"; else echo "$1"; fi
}
selection=()
expr=$(combine "$user_markers" "$markers")
[[ -n $expr ]] && selection+=(-m "$expr")
expr=$(combine "$user_words" "$words")
[[ -n $expr ]] && selection+=(-k "$expr")
fallback_note=$log_dir/cleanup-fallback.txt
rm -f "$fallback_note"
plugin_env=(S3TESTS_FALLBACK_NOTE="$fallback_note")
[[ $skip_alt_user == yes ]] && plugin_env+=(S3TESTS_DESELECT="$alt_user_tests")
[[ $strict_cleanup == yes ]] && plugin_env+=(S3TESTS_STRICT_CLEANUP=1)

junit=$log_dir/junit.xml
log=$log_dir/pytest.log
rm -f "$junit"
echo "running $suite_dir against $endpoint (excluded: $(if [[ $all_features == yes ]]; then echo nothing; else feature_lines | awk -F'|' '{ gsub(/ /, "", $1); print $1 }' | grep -vxF -f <(printf '%s\n' "${allowed[@]}" '') | paste -sd' '; fi))"
(
    cd "$checkout" &&
        env S3TEST_CONF="$conf" AWS_DEFAULT_REGION="$region" PYTHONPATH="$plugin_dir" "${plugin_env[@]}" \
            "$venv/bin/python" -m pytest -p strata_s3tests_plugin -p no:cacheprovider \
            --timeout 300 -o junit_family=xunit1 --junitxml="$junit" -rfE \
            "${ignores[@]}" "${selection[@]}" "${passthrough[@]}"
) >"$log" 2>&1
status=$?
tail -n 1 "$log"

[[ -f $junit ]] || { echo "pytest wrote no results (exit $status); see $log" >&2; exit 1; }
"$venv/bin/python" - "$junit" "$alt_user_tests" "$log_dir/results.tsv" "$one_key_pair" <<'EOF'
import sys, xml.etree.ElementTree as ET
junit, alt_path, results_path, one_key_pair = sys.argv[1:]
alt = set(open(alt_path).read().split())
counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
alt_run = alt_passed = 0
with open(results_path, "w") as out:
    out.write("test\toutcome\tuses_alt_user\tmessage\n")
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name")
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                outcome = "failed" if tag == "failure" else tag
                message = (el.get("message") or "").splitlines()[0][:200] if el.get("message") else ""
                break
        base = name.split("[")[0]
        uses_alt = base in alt
        counts[outcome] += 1
        if uses_alt and outcome != "skipped":
            alt_run += 1
            alt_passed += outcome == "passed"
        out.write(f"{case.get('classname')}::{name}\t{outcome}\t{'yes' if uses_alt else 'no'}\t{message}\n")
total = sum(counts.values())
print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['error']} errors, {counts['skipped']} skipped ({total} run)")
if one_key_pair == "yes" and alt_run:
    print(f"  one key pair: {alt_run} of these tests use the alt or tenant user, who is the main user here"
          f" ({alt_passed} passed, {alt_run - alt_passed} failed; --skip-alt-user leaves them out)")
EOF
[[ -f $fallback_note ]] && echo "  note: $(cat "$fallback_note") (--strict-cleanup to refuse)"
echo "results: $log_dir/results.tsv  (pytest output: $log, config: $conf)"
# pytest exits 1 when tests failed: that is a result, not a failure of this script.
[[ $status -le 1 ]]
