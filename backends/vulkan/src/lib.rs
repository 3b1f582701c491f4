//! # microprop-vulkan: the Vulkan backend (work in progress)
