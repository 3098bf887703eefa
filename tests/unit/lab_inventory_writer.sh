#!/usr/bin/env bash
# Writes a lab inventory from fixture data with the lab's own writer
# (scripts/lib/lab_inventory.sh), without root, namespaces or processes: the records 'up' and
# 'add-pod' write into a data dir, then inventory.json assembled from them, as
# scripts/lab does. lab_inventory_contract_test.cpp reads the result with podpath's reader;
# the values below are the ones it expects.
#
#   tests/unit/lab_inventory_writer.sh REPO_ROOT DATA_DIR      (writes DATA_DIR/inventory.json)
set -Eeuo pipefail
trap 'printf "lab_inventory_writer: \"%s\" failed (exit %d) at line %d of %s\n" "$BASH_COMMAND" "$?" "$LINENO" "${BASH_SOURCE[0]##*/}" >&2' ERR
(( $# == 2 )) || { echo "usage: $0 REPO_ROOT DATA_DIR" >&2; exit 2; }
# shellcheck source=scripts/lib/lab_common.sh
source "$1/scripts/lib/lab_common.sh"
# shellcheck source=scripts/lib/lab_state.sh
source "$1/scripts/lib/lab_state.sh"
# shellcheck source=scripts/lib/lab_inventory.sh
source "$1/scripts/lib/lab_inventory.sh"

LAB=fx LAB_DIR=$2 LAB_CG=/sys/fs/cgroup/podpath-lab.fx
# Everything JSON must escape, and text that is not ASCII.
readonly COMMAND=$'sleep infinity # "quoted" \\ back\ttab\nnewline é'
readonly POD1=/sys/fs/cgroup/podpath-lab.fx/kubepods/besteffort/pod2f0c7d0e-6c1b-4f3e-9a55-0b7d2c1e9f10
readonly POD2=/sys/fs/cgroup/podpath-lab.fx/kubepods/besteffort/pod7d238be3-c8c5-4537-9c1f-9dc3f733cc4b
readonly ID1=5d20079912b3a9d639b3b5bae1e90e4ec6b9408642ba2e22397d5971feb2198e
readonly ID2=8d7fd8f7b7cb587da4bb4e4cb49f2c7b8b8970f230d55beae565d577262452f0
readonly ID3=c2ce3d248a9a7acc7fcd1d9f21fb81e1da6344b1c61509bc6d7f5749506bf586
readonly ID4=6d6ec9cd0796de3003c3c5c33db60829d1901cb7171533078cbcc2e235f5b864

mkdir -p "$LAB_DIR/nodes" "$LAB_DIR/pods"
inventory_record_lab 2 1 2 "$COMMAND"
inventory_record_node 2          # in reverse: the inventory orders nodes by number
inventory_record_node 1
# An added pod (add-pod's record, with a broken container) first: pods are ordered by node.
tsv_line shop cart-jjtphbnw8v-xphr9 7d238be3-c8c5-4537-9c1f-9dc3f733cc4b node2 10.10.130.2 fx-pod-xphr9 \
  vethb61703ca 7d83e94539bc0fb223c001276b10ee3432dba4e09399890632f1cc3ce339c707 \
  cart "$ID3" "$POD2/$ID3" 4294967297 4300 |
  inventory_record_pods "$LAB_DIR/pods/fx-pod-xphr9.json" "sleep 1d"
inventory_add_container "$LAB_DIR/pods/fx-pod-xphr9.json" debug-otherns "$ID4" "$POD2/$ID4" 1301 4400 "sleep 1d" \
  fx-pod-xphr9-x 10.10.130.3
# The pods of 'up' on node1, as create_pod prints them.
tsv_line default web-w49lf7rsvl-htzdc 2f0c7d0e-6c1b-4f3e-9a55-0b7d2c1e9f10 node1 10.10.129.2 fx-pod-htzdc \
  veth8f15a378 d1e10490f57cb38f4114319a56e061085a2ed7f1d620e0749cc4bc081fecc14b \
  web "$ID1" "$POD1/$ID1" 1201 4242 sidecar "$ID2" "$POD1/$ID2" 1202 4243 |
  inventory_record_pods "$LAB_DIR/pods/node1.json" "$COMMAND"
# A Service with two endpoints (scripts/lab service add) and one without.
mkdir -p "$LAB_DIR/services"
printf '%s\n' "$(tsv_line default/web-w49lf7rsvl-htzdc 10.10.129.2 node1 KUBE-SEP-ZMPMFHZKP5MVSNOC)" \
  "$(tsv_line shop/cart-jjtphbnw8v-xphr9 10.10.130.2 node2 KUBE-SEP-TYUM7WDEYZ4X5ZS3)" |
  inventory_record_service "$LAB_DIR/services/default_web.json" default web 10.96.0.10 TCP 80 8080 http \
    KUBE-SVC-CDGGSHYLG3RE2FKL
inventory_record_service "$LAB_DIR/services/shop_empty.json" shop empty 10.96.0.11 UDP 53 5353 http \
  KUBE-SVC-AAAAAAAAAAAAAAAA </dev/null
inventory_write
