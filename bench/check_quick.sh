#!/usr/bin/env bash
# ctest's smoke test of the benchmark: the quick run must finish and report
# every headline figure. It never judges the figures themselves: this
# machine is shared and noisy.
set -euo pipefail
bench="$1"; out="$2"
mkdir -p "$out"
"$bench" --quick --out "$out" | tee "$out/results.txt"
missing=0
for c in plugin_overhead_qos0_64b plugin_overhead_qos1_64b plugin_overhead_qos1_1k stored_chat_rate \
         stored_chat_p50_ms stored_chat_p99_ms fanout_1000_p99_ms connect_10k_s rss_per_conn_kb \
         history_page_p99_ms sync_p99_ms search_conv_p99_ms search_all_p99_ms storm_5k_password_cold_s storm_5k_password_restart_s storm_5k_token_s presence_connect_s \
         stall_typing_p99_ms stall_receipt_p99_ms stall_made_up_refused stall_messages_lost \
         requests_capacity_per_s chat_p99_under_requests_ms reconnect_storm_s desk_assign_p99_ms desk_message_p99_ms \
         desk_ws_assign_p99_ms desk_ws_visit_p99_ms desk_ws_message_p99_ms retention_chat_p99_ms search_index_store_max_ms \
         media_upload_mb_per_s media_thumbnail_p99_ms media_put_file_mb_per_s media_cp_mb_per_s \
         e2e_key_claims_per_s e2e_key_claim_duplicates; do
  grep -q "^{\"case\": \"$c\"" "$out/results.txt" || { echo "missing figure: $c"; missing=1; }
done
# Not a speed but a correctness figure: no one-time key is ever handed out twice.
grep -q '^{"case": "e2e_key_claim_duplicates", "value": 0,' "$out/results.txt" ||
  { echo "one-time keys were handed out twice"; missing=1; }
exit $missing
