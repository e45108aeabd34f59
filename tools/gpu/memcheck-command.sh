# Sourced by remote.sh (memcheck step) and memcheck-each.sh: the one command line both run vitest
# under compute-sanitizer with. Defines MEMCHECK_VITEST; append test paths to it.
#
# --report-api-errors no: CUDA calls that fail on purpose and are handled (the out-of-memory test's
# cudaMalloc) are not memory errors; invalid accesses and leaks are still reported.
# vitest 4: poolOptions.forks.singleFork became --maxWorkers=1 --no-isolate (one worker process, so
# one CUDA context to instrument). The worker is a child process, so the sanitizer follows children
# (--target-processes all). Exit status 86 when the sanitizer finds errors.
MEMCHECK_VITEST=(
  compute-sanitizer --tool memcheck --leak-check full --report-api-errors no --target-processes all
  --error-exitcode 86
  node node_modules/vitest/vitest.mjs run --reporter=default --pool=forks --maxWorkers=1 --no-isolate
  --testTimeout=600000 --hookTimeout=600000
)
