#!/bin/sh
# The delta size target: a 64 MiB product gains one small package and one changed project file;
# the delta (folder and tar.zst) must stay under 5% of the product. Prints the numbers that
# docs/benchmarks.md records. No Docker needed: the products are generated.
set -eu
cd "$(dirname "$0")/.."
cargo test --locked --test it \
  delta::delta_of_one_small_package_and_one_project_file_is_under_5_percent_of_a_64_mib_product \
  -- --nocapture 2>&1 | grep -E '^delta-size:|test result'
