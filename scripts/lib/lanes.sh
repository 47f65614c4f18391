# shellcheck shell=bash
# run_lanes DIR: runs the caller's functions lane_a and lane_b side by side, their output in
# DIR/lane-a.log and DIR/lane-b.log; a lane that fails prints its log and fails the script, and
# stopping the script stops both lanes.
run_lanes() {
    local dir=$1 a b
    trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
    lane_a > "$dir/lane-a.log" 2>&1 &
    a=$!
    lane_b > "$dir/lane-b.log" 2>&1 &
    b=$!
    wait $a || { cat "$dir/lane-a.log"; exit 1; }
    wait $b || { cat "$dir/lane-b.log"; exit 1; }
    trap - EXIT
}
