// An RFC 4180 CSV reader (the input of `frost-prep text`, see text_prep.h). It reads untrusted
// files: any bytes give a table or a frost::Error (tests/fuzz/fuzz_csv.cpp checks that).
//
// No LibTorch, no HDF5 (frost::data).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace frost::data {

/// An RFC 4180 CSV file: a header record and data records with the same number of fields.
struct CsvTable {
  std::vector<std::string> header;             ///< column names as written (not trimmed)
  std::vector<std::vector<std::string>> rows;  ///< data records, in file order
  std::vector<int64_t> row_lines;              ///< 1-based line on which each record starts
};

/// Reads an RFC 4180 CSV file: fields separated by commas, records by CRLF, LF or a lone CR;
/// a field in double quotes may hold commas, line breaks and doubled quotes ("" for ").
/// A UTF-8 byte-order mark at the start is skipped; blank lines are skipped anywhere; fields
/// are kept byte for byte (no trimming, no decoding). Throws frost::Error naming the file and
/// the line for: a quote inside an unquoted field, anything but a comma or line break after a
/// closing quote, a quoted field still open at the end of the file, a record whose number of
/// fields differs from the header's; and for a file that cannot be read or holds no header.
CsvTable read_csv(const std::string& path);

/// The parser of read_csv on the file's bytes `data` (any bytes); `path` names the file in
/// messages only. Same rules and errors as read_csv (without the file-reading ones).
CsvTable parse_csv(const std::string& data, const std::string& path);

}  // namespace frost::data
