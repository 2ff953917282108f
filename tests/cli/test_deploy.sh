#!/usr/bin/env bash
# test_deploy.sh - the deploy files are safe as shipped (issue 10): whatever
# listens beyond loopback has a token, Redis has a user, a password and a
# memory cap, files are written 0640 (UMask), descriptors are plenty
# (LimitNOFILE), nothing is published beyond the host's loopback, and the
# documented ACL is the one the files use. Plain text checks: no Docker,
# systemd or Kubernetes here.
set -u
. tests/cli/lib.sh

unit=deploy/jen1-worker.service
compose=deploy/compose.yaml
k8s=deploy/kubernetes/deployment.yaml
keda=deploy/kubernetes/scaledobject.yaml

has() { grep -Eq -- "$2" "$1"; }

# ---- systemd --------------------------------------------------------------------
t_check "unit: UMask=0027 (blobs 0640, directories 0750)" has "$unit" '^UMask=0027$'
t_check "unit: LimitNOFILE set" has "$unit" '^LimitNOFILE=[0-9]{4,}$'
t_check "unit: runs as jen1, not root" has "$unit" '^User=jen1$'
t_check "unit: no secret in it (only *_FILE names)" bash -c "! grep -Eiq '^Environment=.*(PASSWORD|TOKEN|SECRET)=' $unit"

# ---- compose --------------------------------------------------------------------
t_check "compose: the worker's 0.0.0.0 comes with a token file" \
    bash -c "grep -q 'JEN1_HTTP_ADDR: 0.0.0.0' $compose && grep -q 'JEN1_API_TOKEN_FILE: /run/secrets/' $compose"
t_check "compose: no token or password in clear" bash -c "! grep -Eq 'JEN1_API_TOKEN:|requirepass|redis://[^@/]*:[^@/]*@' $compose"
t_check "compose: every published port is on 127.0.0.1" \
    bash -c "! grep -E '^ *ports:' $compose | grep -Ev '\"127\\.0\\.0\\.1:[0-9]+:[0-9]+\"'"
t_check "compose: Redis has maxmemory with noeviction" \
    bash -c "grep -q '\"--maxmemory\", \"[0-9]' $compose && grep -q '\"--maxmemory-policy\", \"noeviction\"' $compose"
t_check "compose: Redis's users come from an ACL file, the pool is the user jen1" \
    bash -c "grep -q '\"--aclfile\"' $compose && grep -q 'REDIS_URL: redis://jen1@' $compose && \
             grep -q 'JEN1_REDIS_PASSWORD_FILE: /run/secrets/' $compose"
t_check "compose: the ACL file turns the default user off" has "$compose" "user default off"
t_check "compose: secrets come from files" has "$compose" '^  api-token: \{ file: '

# ---- Kubernetes ------------------------------------------------------------------
t_check "k8s: 0.0.0.0 with a token from the Secret" \
    bash -c "grep -q 'JEN1_HTTP_ADDR, value: \"0.0.0.0' $k8s && grep -q 'JEN1_API_TOKEN_FILE, value: /etc/jen1/secrets/' $k8s"
t_check "k8s: Redis as the user jen1, password from the Secret" \
    bash -c "grep -q 'REDIS_URL, value: \"redis://jen1@' $k8s && grep -q 'JEN1_REDIS_PASSWORD_FILE' $k8s"
t_check "k8s: the readiness probe sends the token without argv" has "$k8s" 'curl -sf -o /dev/null -H @-'
t_check "k8s: non-root, no privilege escalation" \
    bash -c "grep -q 'runAsNonRoot: true' $k8s && grep -q 'allowPrivilegeEscalation: false' $k8s"
t_check "keda: authenticates as the user jen1" \
    bash -c "grep -q 'parameter: username' $keda && grep -q 'parameter: password' $keda"

# ---- One ACL everywhere -------------------------------------------------------------
acl='&\{jen1\}:\* -@all \+@connection \+@read \+@write \+@keyspace \+@pubsub \+@scripting \+time -@dangerous -script\|flush -script\|kill'
t_check "docs/protocol.md gives the ACL the compose file uses" \
    bash -c "grep -Eq '$acl' docs/protocol.md && grep -Eq '$acl' $compose"
t_check "the transport test runs the pool under that ACL" \
    grep -q -- '-@all +@connection +@read +@write +@keyspace +@pubsub +@scripting +time -@dangerous' \
    tests/cli/test_redis_transport.sh

t_summary test_deploy
