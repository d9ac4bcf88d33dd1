// How a Frost program reports the error that ends it. No LibTorch, no MPI: frost-prep uses it
// as it is; the MPI programs through the app runner (app_runner.h).
//
// Note [Error line]
// Every Frost program reports the error that ends it as one line on stderr, in one of two forms:
//
//     <program>: error: [rank R] <message>
//     <program>: error: <message>
//
// The first is a protocol: launch/frost-mpirun watches mpirun's stderr for ": error: [rank "
// and, once it has seen it, ends an mpirun that is still running FROST_ABORT_GRACE_S seconds
// later (an mpirun waiting for a node it can no longer reach), so a failed job ends in bounded
// time. An MPI program writes it for an error that ends the job through abort_job: R is the
// rank the error recorded (frost::Error::rank(), Note [Error context]), else the rank of the
// process writing the line; never a rank parsed out of the message. The second form, without a
// rank, is for programs without MPI (frost-prep, frost-bench loader) and for an error every
// rank agreed on and that ends the job without an abort (a command line every rank rejected:
// written once, by rank 0; a benchmark's failed check); frost-mpirun does not react to it.
// <message> is frost::Error::what(): "[rank R] " is part of it and is rendered by frost::Error
// alone. It is written through frost::printable, so a control byte or a newline in a quoted
// path or value (`--data.train $'a\nb.h5'`) shows as \xNN and the line stays one line. LibTorch's C++ backtrace is never part of a message: a c10::Error is reported by
// what_without_backtrace() (describe_exception in app_runner.h), and, as a safety net for a
// LibTorch message wrapped in another error, the text is cut at LibTorch's backtrace marker
// "Exception raised from ".
// print_error_line is the only code that writes such a line. Tests: e2e.faults,
// e2e.bad_input, e2e.train_cli, e2e.bench_allreduce.
#pragma once

#include <exception>
#include <functional>
#include <string>
#include <string_view>

#include "frost/core/error.h"

namespace frost::apps {

/// Writes the line of Note [Error line] for `error` on stderr and flushes it:
/// "<program>: error: <error.what()>", cut at LibTorch's backtrace marker, control bytes and
/// invalid UTF-8 escaped as \xNN (frost::printable). Any thread.
void print_error_line(std::string_view program, const Error& error);

/// `text` up to LibTorch's backtrace marker ("Exception raised from "), without the white space
/// before it; `text` itself when it has none.
std::string without_backtrace(std::string text);

/// The error to report for an exception that escaped a program: a frost::Error as it is (type
/// sliced, message, contexts and rank kept), another exception's what() as the message.
Error to_error(const std::exception& e);

/// How a program turns an escaping exception into the error it reports: to_error, or
/// describe_exception (app_runner.h) in programs that link LibTorch.
using DescribeError = Error (*)(const std::exception&);

/// Runs `body`, a program (or one phase of one) without MPI, and returns its exit status. An
/// exception escaping `body` is reported with print_error_line (described by `describe`, no
/// rank), and `error_exit_status` is returned.
int run_program(std::string_view program, const std::function<int()>& body,
                int error_exit_status = 1, DescribeError describe = to_error);

}  // namespace frost::apps
