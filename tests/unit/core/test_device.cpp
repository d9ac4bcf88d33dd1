// Unit tests of the device rule, Note [Device per rank] (frost/core/device.h).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "frost/core/device.h"
#include "frost/core/error.h"

namespace frost {
namespace {

std::string error_of(DeviceKind kind, int local_rank, int local_world, int visible, bool shared,
                     const std::string& cvd = "") {
  try {
    place_rank(kind, local_rank, local_world, visible, shared, "node7", cvd);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// check_distinct_devices' message, or "" when it accepts.
std::string error_of_check(const std::vector<std::string>& ids,
                           const std::vector<std::string>& hosts,
                           const std::vector<std::string>& views, bool shared_gpu = false) {
  try {
    check_distinct_devices(ids, hosts, views, shared_gpu);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(PlaceRank, AutoIsCpuWithoutDevicesAndCudaWithThem) {
  EXPECT_FALSE(place_rank(DeviceKind::kAuto, 0, 2, 0, false, "h", "").cuda);
  EXPECT_EQ(place_rank(DeviceKind::kAuto, 1, 2, 0, false, "h", "").str(), "cpu");
  const DevicePlacement p = place_rank(DeviceKind::kAuto, 1, 2, 2, false, "h", "");
  EXPECT_TRUE(p.cuda);
  EXPECT_EQ(p.index, 1);
  EXPECT_EQ(p.str(), "cuda:1");
}

TEST(PlaceRank, CpuIgnoresDevices) {
  const DevicePlacement p = place_rank(DeviceKind::kCpu, 3, 4, 8, false, "h", "");
  EXPECT_FALSE(p.cuda);
  EXPECT_EQ(p.index, -1);
}

TEST(PlaceRank, LocalRankPicksTheDevice) {
  for (int l = 0; l < 4; ++l) {
    EXPECT_EQ(place_rank(DeviceKind::kCuda, l, 4, 4, false, "h", "").index, l);
  }
  // Fewer local ranks than devices: the first ones are used.
  EXPECT_EQ(place_rank(DeviceKind::kCuda, 1, 2, 8, false, "h", "").index, 1);
}

TEST(PlaceRank, OneVisibleDeviceIsUsedWhateverTheLocalRank) {
  // Slurm --gpus-per-task=1: every process sees its own single device as cuda:0.
  EXPECT_EQ(place_rank(DeviceKind::kCuda, 3, 4, 1, false, "h", "5").index, 0);
}

TEST(PlaceRank, CudaWithoutDevicesNamesHostAndVariable) {
  const std::string e = error_of(DeviceKind::kCuda, 0, 1, 0, false, "");
  EXPECT_NE(e.find("train.device = cuda"), std::string::npos) << e;
  EXPECT_NE(e.find("node7"), std::string::npos) << e;
  EXPECT_NE(e.find("CUDA_VISIBLE_DEVICES unset"), std::string::npos) << e;
  EXPECT_NE(error_of(DeviceKind::kCuda, 0, 1, 0, false, "").find("train.device = cpu"),
            std::string::npos);
}

TEST(PlaceRank, MoreLocalRanksThanDevicesNamesTheCounts) {
  const std::string e = error_of(DeviceKind::kAuto, 2, 3, 2, false, "0,1");
  EXPECT_NE(e.find("host node7 runs 3 ranks"), std::string::npos) << e;
  EXPECT_NE(e.find("sees 2 CUDA devices"), std::string::npos) << e;
  EXPECT_NE(e.find("CUDA_VISIBLE_DEVICES=0,1"), std::string::npos) << e;
  // The ranks that do have a device of their own are placed.
  EXPECT_EQ(error_of(DeviceKind::kAuto, 1, 3, 2, false, "0,1"), "");
}

TEST(PlaceRank, SharedGpuAssignsRoundRobin) {
  EXPECT_EQ(place_rank(DeviceKind::kCuda, 2, 3, 2, true, "h", "").index, 0);
  EXPECT_EQ(place_rank(DeviceKind::kCuda, 3, 4, 2, true, "h", "").index, 1);
}

TEST(PlaceRank, BadLocalRankIsAnInternalError) {
  EXPECT_THROW(place_rank(DeviceKind::kCpu, 2, 2, 0, false, "h", ""), InternalError);
}

TEST(CheckDistinctDevices, TwoRanksOnOneGpuOfAHostAreRefused) {
  const std::vector<std::string> hosts = {"a", "a", "b", "b"};
  const std::vector<std::string> views = {"view 0", "view 1", "view 2", "view 3"};
  try {
    check_distinct_devices({"0000:1b:00.0", "0000:1c:00.0", "0000:1b:00.0", "0000:1b:00.0"}, hosts,
                           views, false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("ranks 2 and 3 on host b"), std::string::npos) << what;
    EXPECT_NE(what.find("0000:1b:00.0 (rank 2: view 2; rank 3: view 3)"), std::string::npos)
        << what;
  }
}

// G2 (docs/design.md, GPU field cases): 2 local ranks on a host where each process sees one GPU
// (the same one), shared-GPU mode off. place_rank gives both cuda:0 (counts alone cannot tell
// this from one GPU per rank, Slurm's --gpus-per-task=1); the cross-rank check, which the
// Trainer runs before any NCCL call, refuses it with a message that names the host, both ranks,
// their local ranks, how many devices each sees and CUDA_VISIBLE_DEVICES, and says what to do
// (not NCCL's "Duplicate GPU detected" from inside its initialisation).
TEST(CheckDistinctDevices, TwoLocalRanksOnTheOneVisibleGpuNameHostLocalRanksAndDevices) {
  const DevicePlacement p0 = place_rank(DeviceKind::kCuda, 0, 2, 1, false, "node7", "");
  const DevicePlacement p1 = place_rank(DeviceKind::kCuda, 1, 2, 1, false, "node7", "");
  ASSERT_EQ(p0.str(), "cuda:0");
  ASSERT_EQ(p1.str(), "cuda:0");
  const std::vector<std::string> views = {placement_view(0, 2, 1, ""), placement_view(1, 2, 1, "")};
  EXPECT_EQ(views[0], "local rank 0 of 2, 1 visible CUDA device (CUDA_VISIBLE_DEVICES unset)");
  const std::string e = error_of_check({"0000:1b:00.0", "0000:1b:00.0"}, {"node7", "node7"}, views);
  EXPECT_EQ(e,
            "ranks 0 and 1 on host node7 would both use the GPU 0000:1b:00.0 (rank 0: local rank "
            "0 of 2, 1 visible CUDA device (CUDA_VISIBLE_DEVICES unset); rank 1: local rank 1 of "
            "2, 1 visible CUDA device (CUDA_VISIBLE_DEVICES unset)), which NCCL refuses: start at "
            "most one rank per GPU (mpirun -np / --npernode, Slurm --ntasks-per-node), give each "
            "rank its own device (Slurm --gpus-per-task=1, or CUDA_VISIBLE_DEVICES listing a GPU "
            "per local rank), or set train.device = cpu");
  EXPECT_EQ(e.find("Duplicate GPU"), std::string::npos);
  // With CUDA_VISIBLE_DEVICES naming the one device, the view says so.
  EXPECT_NE(error_of_check({"0000:1b:00.0", "0000:1b:00.0"}, {"node7", "node7"},
                           {placement_view(0, 2, 1, "3"), placement_view(1, 2, 1, "3")})
                .find("rank 1: local rank 1 of 2, 1 visible CUDA device (CUDA_VISIBLE_DEVICES=3)"),
            std::string::npos);
  // The shared-GPU test mode allows it.
  EXPECT_EQ(error_of_check({"0000:1b:00.0", "0000:1b:00.0"}, {"node7", "node7"}, views,
                           /*shared_gpu=*/true),
            "");
}

TEST(CheckDistinctDevices, SameBusIdOnDifferentHostsAndCpuRanksAreFine) {
  const std::vector<std::string> views = {"v0", "v1"};
  EXPECT_NO_THROW(
      check_distinct_devices({"0000:1b:00.0", "0000:1b:00.0"}, {"a", "b"}, views, false));
  EXPECT_NO_THROW(check_distinct_devices({"", ""}, {"a", "a"}, views, false));
}

TEST(CheckDistinctDevices, SharedGpuAllowsSharing) {
  EXPECT_NO_THROW(
      check_distinct_devices({"0000:1b:00.0", "0000:1b:00.0"}, {"a", "a"}, {"v0", "v1"}, true));
}

TEST(PlacementView, CountsAndVariable) {
  EXPECT_EQ(placement_view(1, 4, 2, "0,1"),
            "local rank 1 of 4, 2 visible CUDA devices (CUDA_VISIBLE_DEVICES=0,1)");
  EXPECT_EQ(placement_view(0, 1, 0, ""),
            "local rank 0 of 1, 0 visible CUDA devices (CUDA_VISIBLE_DEVICES unset)");
}

TEST(DeviceKindText, MatchesTheConfigValues) {
  EXPECT_STREQ(to_string(DeviceKind::kAuto), "auto");
  EXPECT_STREQ(to_string(DeviceKind::kCpu), "cpu");
  EXPECT_STREQ(to_string(DeviceKind::kCuda), "cuda");
}

}  // namespace
}  // namespace frost

namespace frost {
namespace {

TEST(SharedGpuNcclEnv, DistinctHostIdPerRankAndSocketTransport) {
  const auto a = shared_gpu_nccl_env("node7", 0), b = shared_gpu_nccl_env("node7", 1);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a.front().first, "NCCL_HOSTID");
  EXPECT_NE(a.front().second, b.front().second) << "ranks need distinct host ids";
  EXPECT_NE(a.front().second.find("node7"), std::string::npos);
  bool socket = false, loopback = false;
  for (const auto& [k, v] : a) {
    socket |= k == "NCCL_NET" && v == "Socket";
    loopback |= k == "NCCL_SOCKET_IFNAME" && v == "lo";
  }
  EXPECT_TRUE(socket && loopback);
}

TEST(SetEnvDefaults, KeepsWhatIsSetAndSetsTheRest) {
  ::setenv("FROST_TEST_ENV_GIVEN", "mine", 1);
  ::unsetenv("FROST_TEST_ENV_NEW");
  const auto set = set_env_defaults({{"FROST_TEST_ENV_GIVEN", "x"}, {"FROST_TEST_ENV_NEW", "y"}});
  EXPECT_EQ(set, std::vector<std::string>{"FROST_TEST_ENV_NEW"});
  EXPECT_STREQ(std::getenv("FROST_TEST_ENV_GIVEN"), "mine");
  EXPECT_STREQ(std::getenv("FROST_TEST_ENV_NEW"), "y");
  ::unsetenv("FROST_TEST_ENV_GIVEN");
  ::unsetenv("FROST_TEST_ENV_NEW");
}

}  // namespace
}  // namespace frost
