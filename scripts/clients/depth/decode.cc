// Decodes each case file (a serialized telemetry.v1.QueryEventsResponse) with
// the C++ protobuf runtime's ParseFromString and default limits, as gRPC C++
// (and the grpcio and Ruby wrappers over it, when they parse in C++) does, and
// prints one line per file: "<file>\tok" or "<file>\tfail".
//
// Usage: decode CASES_DIR
#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "telemetry/v1/query_service.pb.h"

int main(int argc, char** argv) {
  google::protobuf::LogSilencer silence;  // the parser logs each failure to stderr
  std::cout << "runtime\tlibprotobuf " << google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION) << "\n";
  std::vector<std::string> names;
  DIR* dir = opendir(argv[1]);
  for (dirent* entry = readdir(dir); entry != nullptr; entry = readdir(dir)) {
    if (entry->d_name[0] != '.') names.push_back(entry->d_name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    std::ifstream in(std::string(argv[1]) + "/" + name, std::ios::binary);
    std::stringstream data;
    data << in.rdbuf();
    telemetry::v1::QueryEventsResponse response;
    std::cout << name << (response.ParseFromString(data.str()) ? "\tok" : "\tfail\tParseFromString returned false") << "\n";
  }
  return 0;
}
