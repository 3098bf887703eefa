#include <gtest/gtest.h>

#include "util/system.hpp"

TEST(FindMount, FindsCgroup2OnHybridLayout) {
  const char* mounts = "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n"
                       "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n"
                       "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n";
  EXPECT_EQ(podpath::find_mount(mounts, "cgroup2"), std::filesystem::path("/sys/fs/cgroup/unified"));
  EXPECT_EQ(podpath::find_mount(mounts, "cgroup"), std::filesystem::path("/sys/fs/cgroup/cpu"));
}

TEST(FindMount, FindsCgroup2OnUnifiedLayoutAndNothingWhenAbsent) {
  EXPECT_EQ(podpath::find_mount("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n", "cgroup2"),
            std::filesystem::path("/sys/fs/cgroup"));
  EXPECT_FALSE(podpath::find_mount("proc /proc proc rw 0 0\n", "cgroup2"));
  EXPECT_FALSE(podpath::find_mount("", "cgroup2"));
}
