#!/usr/bin/env bash
# End-to-end smoke test of a deployed lakehouse stack, with your AWS credentials (the AWS CLI's
# usual chain; the region of the stack in AWS_REGION or your profile).
#
#   infra/smoke.sh [STACK] [--dry-run]          STACK defaults to Lakehouse-dev
#
# 1. reads the stack's outputs (cloudformation describe-stacks);
# 2. uploads the sample shop files into a new batch folder under the landing URI, then the
#    _SUCCESS marker that completes the batch (the trigger starts one execution for it);
# 3. waits for that execution (stepfunctions list-executions / describe-execution) to succeed;
# 4. counts the rows of silver_orders and gold_sales_daily with Athena, in the stack's workgroup
#    and database; both must be > 0.
# Prints PASS (stdout) or FAIL (stderr) with what it saw; exits 0 on PASS, 1 on FAIL, 2 on a
# usage error.
# --dry-run does step 1 and prints what steps 2-4 would do, changing nothing.
#
# Settings (environment): SMOKE_SAMPLES (folder with the files, default sample-data/ of this
# repository), SMOKE_TIMEOUT_SECONDS (wait for the execution, default 1800),
# SMOKE_QUERY_TIMEOUT_SECONDS (per Athena query, default 300), SMOKE_POLL_SECONDS (default 10).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
stack="Lakehouse-dev"
dry_run=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    -h | --help)
      awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
      exit 0
      ;;
    -*)
      echo "smoke: unknown option $arg (see --help)" >&2
      exit 2
      ;;
    *) stack="$arg" ;;
  esac
done

samples="${SMOKE_SAMPLES:-$here/../sample-data}"
timeout="${SMOKE_TIMEOUT_SECONDS:-1800}"
query_timeout="${SMOKE_QUERY_TIMEOUT_SECONDS:-300}"
poll="${SMOKE_POLL_SECONDS:-10}"
files=(products.xlsx orders_2025_04.xlsx order_items_2025_04.xlsx)

# on stderr, so that a failure inside $(...) is seen too (and exits the script: set -e)
fail() {
  echo "FAIL $stack: $*" >&2
  exit 1
}

command -v aws >/dev/null 2>&1 || fail "the AWS CLI (aws) is not installed"
for f in "${files[@]}"; do
  [[ -f "$samples/$f" ]] || fail "sample file $samples/$f is missing (set SMOKE_SAMPLES)"
done

# --- 1. the stack's outputs ----------------------------------------------------------------
outputs="$(aws cloudformation describe-stacks --stack-name "$stack" \
  --query 'Stacks[0].Outputs[].[OutputKey, OutputValue]' --output text)" ||
  fail "cannot read the outputs of stack $stack (deployed? credentials? region?)"
output() {
  local value
  value="$(awk -F '\t' -v key="$1" '$1 == key { print $2; exit }' <<<"$outputs")"
  [[ -n "$value" && "$value" != "None" ]] || fail "stack $stack has no output $1"
  printf '%s' "$value"
}
landing="$(output LandingUri)"
state_machine="$(output StateMachineArn)"
workgroup="$(output AthenaWorkGroup)"
database="$(output GlueDatabase)"
landing="${landing%/}"
batch="smoke-$(date -u +%Y%m%dT%H%M%SZ)-$$"
echo "stack $stack: landing $landing, state machine $state_machine"
echo "athena: workgroup $workgroup, database $database"

if ((dry_run)); then
  for f in "${files[@]}"; do echo "would upload $samples/$f to $landing/$batch/$f"; done
  echo "would upload the marker $landing/$batch/_SUCCESS"
  echo "would wait up to ${timeout}s for the execution named $batch-<hash> of $state_machine"
  echo "would count silver_orders and gold_sales_daily in $database (workgroup $workgroup)"
  echo "DRY-RUN $stack: nothing changed"
  exit 0
fi

# --- 2. one batch into landing -------------------------------------------------------------
for f in "${files[@]}"; do
  aws s3 cp --only-show-errors "$samples/$f" "$landing/$batch/$f"
done
aws s3 cp --only-show-errors - "$landing/$batch/_SUCCESS" </dev/null
echo "uploaded batch $batch (${#files[@]} files and its _SUCCESS marker)"

# --- 3. the execution the trigger started for it -------------------------------------------
# the trigger names it <batch folder>-<16 hex> (lakehouse.aws.trigger.execution_name)
deadline=$((SECONDS + timeout))
execution=""
status=""
while ((SECONDS < deadline)); do
  if [[ -z "$execution" ]]; then
    execution="$(aws stepfunctions list-executions --state-machine-arn "$state_machine" \
      --max-results 100 \
      --query "executions[?starts_with(name, '$batch-')].executionArn | [0]" --output text)"
    if [[ "$execution" == "None" ]]; then execution=""; fi
  fi
  if [[ -n "$execution" ]]; then
    status="$(aws stepfunctions describe-execution --execution-arn "$execution" \
      --query status --output text)"
    case "$status" in
      SUCCEEDED) break ;;
      FAILED | TIMED_OUT | ABORTED) fail "execution $execution ended $status" ;;
    esac
  fi
  sleep "$poll"
done
[[ -n "$execution" ]] || fail "no execution started for batch $batch within ${timeout}s (trigger?)"
[[ "$status" == "SUCCEEDED" ]] || fail "execution $execution still $status after ${timeout}s"
echo "execution $execution SUCCEEDED"

# --- 4. the tables, through Athena ---------------------------------------------------------
count() {
  local id state waited=0
  id="$(aws athena start-query-execution --work-group "$workgroup" \
    --query-execution-context "Database=$database" \
    --query-string "SELECT count(*) FROM \"$database\".\"$1\"" \
    --query QueryExecutionId --output text)"
  while :; do
    state="$(aws athena get-query-execution --query-execution-id "$id" \
      --query QueryExecution.Status.State --output text)"
    case "$state" in
      SUCCEEDED) break ;;
      FAILED | CANCELLED)
        fail "Athena query on $1 ($id) $state: $(aws athena get-query-execution \
          --query-execution-id "$id" --query QueryExecution.Status.StateChangeReason \
          --output text)"
        ;;
    esac
    ((waited < query_timeout)) || fail "Athena query on $1 ($id) still $state"
    sleep "$poll"
    waited=$((waited + poll))
  done
  # row 0 is the header
  aws athena get-query-results --query-execution-id "$id" \
    --query 'ResultSet.Rows[1].Data[0].VarCharValue' --output text
}
silver="$(count silver_orders)"
gold="$(count gold_sales_daily)"
seen="silver_orders=$silver gold_sales_daily=$gold"
[[ "$silver" =~ ^[0-9]+$ && "$silver" -gt 0 ]] || fail "no rows in silver_orders ($seen)"
[[ "$gold" =~ ^[0-9]+$ && "$gold" -gt 0 ]] || fail "no rows in gold_sales_daily ($seen)"
echo "PASS $stack: batch $batch, execution SUCCEEDED, $seen"
