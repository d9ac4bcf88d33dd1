// Compiled once to produce the precompiled LibTorch header that every LibTorch target reuses
// (CMakeLists.txt, FROST_USE_PCH).
