// Typed failures of native code: a kernel (Kiln's own, or an extension's) throws a KilnError of a
// kind, and the boundary (core/binding.cc) turns it into the JS error class of that kind whose
// fields are these facts (packages/tensor/src/errors.ts): the op, the argument at fault, what was
// expected and what was given. An empty fact is one the raiser does not know. Header-only, so that
// an extension compiled on its own gets the same KILN_CHECK / KILN_CHECK_ARG: there the exception
// never leaves the extension's library (kiln/extension.h catches it and reports it, facts included,
// through the C ABI).
#pragma once
#include <stdexcept>
#include <string>
#include <utility>

namespace kiln {

enum class ErrorKind { Shape, DType, Device, Value, Cuda, Memory, Internal };

struct ErrorFacts {
  std::string op, argument, expected, got;
};

struct KilnError : std::runtime_error {
  ErrorKind kind;
  ErrorFacts facts;
  KilnError(ErrorKind k, const std::string& msg, ErrorFacts f = {}) : std::runtime_error(msg), kind(k), facts(std::move(f)) {}
};

// The raisers are out of line (cold) wherever they are used: a check stays one branch.
// Throws "op: msg"; only the op is a fact.
[[noreturn, gnu::cold, gnu::noinline]] inline void fail(ErrorKind kind, const std::string& op, const std::string& msg) {
  throw KilnError(kind, op + ": " + msg, {op, "", "", ""});
}
// Throws "facts.op: msg" with every fact given (a message worded otherwise than expected/got).
[[noreturn, gnu::cold, gnu::noinline]] inline void fail(ErrorKind kind, const ErrorFacts& facts, const std::string& msg) {
  throw KilnError(kind, facts.op + ": " + msg, facts);
}
// Throws "op: argument 'argument' expected <expected>, got <got>" (no argument: "op: expected ...,
// got ..."), every part a fact: the message TypeScript's `new XError(op, argument, expected, got)` makes.
[[noreturn, gnu::cold, gnu::noinline]] inline void fail_arg(ErrorKind kind, const std::string& op, const std::string& argument, const std::string& expected,
                                                            const std::string& got) {
  std::string what = argument.empty() ? "" : "argument '" + argument + "' ";
  throw KilnError(kind, op + ": " + what + "expected " + expected + ", got " + got, {op, argument, expected, got});
}

}  // namespace kiln

// Raises `kind` with "op: msg" unless `cond` holds (msg is built only then).
#define KILN_CHECK(cond, kind, op, msg)                          \
  do {                                                           \
    if (!(cond)) ::kiln::fail(::kiln::ErrorKind::kind, op, msg); \
  } while (0)
// The same with the facts apart: "op: argument 'argument' expected <expected>, got <got>".
#define KILN_CHECK_ARG(cond, kind, op, argument, expected, got)                          \
  do {                                                                                   \
    if (!(cond)) ::kiln::fail_arg(::kiln::ErrorKind::kind, op, argument, expected, got); \
  } while (0)
