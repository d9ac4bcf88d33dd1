#include "frost/data/csv.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "frost/core/error.h"

namespace frost::data {

CsvTable read_csv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FROST_CHECK(in, path, ": cannot open the CSV file (", std::strerror(errno), ")");
  std::ostringstream ss;
  ss << in.rdbuf();
  FROST_CHECK(!in.bad(), path, ": error reading the CSV file");
  return parse_csv(ss.str(), path);
}

CsvTable parse_csv(const std::string& data, const std::string& path) {
  CsvTable table;
  size_t i = 0;
  if (data.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;  // UTF-8 byte-order mark
  const size_t n = data.size();
  int64_t line = 1;  // physical line of data[i]

  // One record per iteration. A record ends at CRLF, LF, a lone CR, or the end of the data.
  bool have_header = false;
  while (i < n) {
    const int64_t record_line = line;
    std::vector<std::string> fields;
    std::string field;
    bool record_done = false;
    bool blank = true;  // nothing but a line break so far
    while (!record_done) {
      field.clear();
      if (i < n && data[i] == '"') {  // quoted field
        blank = false;
        const int64_t open_line = line;
        ++i;
        for (;;) {
          FROST_CHECK(i < n, path, ": line ", open_line,
                      ": a quoted field opened here is never "
                      "closed (a missing closing quote, or a quote that should be doubled)");
          const char c = data[i];
          if (c == '"') {
            if (i + 1 < n && data[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;  // the closing quote
            break;
          }
          if (c == '\n' || (c == '\r' && !(i + 1 < n && data[i + 1] == '\n'))) ++line;
          field += c;
          ++i;
        }
        FROST_CHECK(i >= n || data[i] == ',' || data[i] == '\n' || data[i] == '\r', path, ": line ",
                    line, ": unexpected character '", data[i],
                    "' after the closing quote of a quoted field (expected a comma or the end "
                    "of the line; quotes inside a quoted field must be doubled)");
      } else {  // unquoted field: up to a comma or line break
        while (i < n && data[i] != ',' && data[i] != '\n' && data[i] != '\r') {
          FROST_CHECK(data[i] != '"', path, ": line ", line,
                      ": a quote inside an unquoted field (enclose the whole field in quotes "
                      "and double the quotes inside it)");
          field += data[i];
          blank = false;
          ++i;
        }
      }
      fields.push_back(field);
      if (i < n && data[i] == ',') {
        blank = false;
        ++i;
        continue;
      }
      // End of the record: a line break or the end of the data.
      if (i < n && data[i] == '\r') {
        ++i;
        if (i < n && data[i] == '\n') ++i;  // CRLF
      } else if (i < n && data[i] == '\n') {
        ++i;
      }
      ++line;
      record_done = true;
    }
    if (blank) continue;  // an empty line
    if (!have_header) {
      table.header = std::move(fields);
      have_header = true;
      continue;
    }
    FROST_CHECK(fields.size() == table.header.size(), path, ": line ", record_line, ": ",
                fields.size(), " field(s) but the header has ", table.header.size(),
                " (a comma or line break inside a field must be quoted)");
    table.rows.push_back(std::move(fields));
    table.row_lines.push_back(record_line);
  }
  FROST_CHECK(have_header, path,
              ": the CSV file is empty; expected a header line with columns "
              "'label' and 'text', then one line per sample");
  return table;
}

}  // namespace frost::data
