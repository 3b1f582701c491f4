//! A Vulkan device with its queue, allocators and (lazily built) compute
//! pipelines, shared by every backend in the process that asked for the same
//! device.
//!
//! Creating a device and compiling pipelines costs tens to hundreds of
//! milliseconds on lavapipe; a test suite creates hundreds of backends, so
//! contexts are cached process-wide (see [`Context::get`]).
// vulkano marks shader-module creation and dispatch `unsafe` (the SPIR-V and
// the dispatched kernels must be trusted). Our SPIR-V comes from our own GLSL
// via glslc, and every dispatch reads and writes only spans that
// `Op::validate` checked against the arena.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use vulkano::command_buffer::allocator::StandardCommandBufferAllocator;
use vulkano::descriptor_set::allocator::StandardDescriptorSetAllocator;
use vulkano::descriptor_set::layout::{
    DescriptorSetLayout, DescriptorSetLayoutBinding, DescriptorSetLayoutCreateInfo, DescriptorType,
};
use vulkano::device::physical::{PhysicalDevice, PhysicalDeviceType};
use vulkano::device::{Device, DeviceCreateInfo, Queue, QueueCreateInfo, QueueFlags};
use vulkano::instance::{Instance, InstanceCreateFlags, InstanceCreateInfo};
use vulkano::memory::allocator::StandardMemoryAllocator;
use vulkano::pipeline::compute::ComputePipelineCreateInfo;
use vulkano::pipeline::layout::{PipelineLayoutCreateInfo, PushConstantRange};
use vulkano::pipeline::{ComputePipeline, PipelineLayout, PipelineShaderStageCreateInfo};
use vulkano::shader::{ShaderModule, ShaderModuleCreateInfo, ShaderStages};
use vulkano::{Validated, VulkanError, VulkanLibrary};

use crate::kernels::Kernel;
use crate::Error;

/// The environment variable that picks a device by (part of its) name.
pub const DEVICE_ENV: &str = "MICROPROP_VULKAN_DEVICE";

/// The kind of a Vulkan device, in the order the backend prefers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviceKind {
    /// A discrete GPU.
    Discrete,
    /// A GPU integrated with the CPU.
    Integrated,
    /// A virtual GPU (in a VM).
    Virtual,
    /// A CPU implementation (lavapipe / llvmpipe, SwiftShader).
    Cpu,
    /// Anything else.
    Other,
}

impl From<PhysicalDeviceType> for DeviceKind {
    fn from(t: PhysicalDeviceType) -> Self {
        match t {
            PhysicalDeviceType::DiscreteGpu => DeviceKind::Discrete,
            PhysicalDeviceType::IntegratedGpu => DeviceKind::Integrated,
            PhysicalDeviceType::VirtualGpu => DeviceKind::Virtual,
            PhysicalDeviceType::Cpu => DeviceKind::Cpu,
            _ => DeviceKind::Other,
        }
    }
}

/// A Vulkan device the backend can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The driver's name for it, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// Its kind.
    pub kind: DeviceKind,
    /// Largest storage buffer the device can bind, in bytes.
    pub max_storage_buffer_bytes: u64,
}

pub(crate) struct Context {
    pub info: DeviceInfo,
    pub device: Arc<Device>,
    pub queue: Arc<Queue>,
    pub memory: Arc<StandardMemoryAllocator>,
    pub descriptors: Arc<StandardDescriptorSetAllocator>,
    pub commands: Arc<StandardCommandBufferAllocator>,
    pub set_layout: Arc<DescriptorSetLayout>,
    pub layout: Arc<PipelineLayout>,
    pipelines: Mutex<Vec<Option<Arc<ComputePipeline>>>>,
}

fn no_device(wanted: &str, found: Vec<String>, reason: impl Into<String>) -> Error {
    Error::NoDevice {
        wanted: wanted.to_string(),
        found,
        reason: reason.into(),
    }
}

fn describe(e: &Validated<VulkanError>) -> String {
    match e {
        Validated::Error(e) => format!("{e} ({e:?})"),
        Validated::ValidationError(v) => format!("{v}"),
    }
}

/// Load the Vulkan loader and create an instance.
fn instance(wanted: &str) -> Result<Arc<Instance>, Error> {
    let library = VulkanLibrary::new().map_err(|e| {
        no_device(
            wanted,
            vec![],
            format!("the Vulkan loader (libvulkan.so.1) could not be loaded: {e}"),
        )
    })?;
    Instance::new(
        library,
        InstanceCreateInfo {
            flags: InstanceCreateFlags::ENUMERATE_PORTABILITY,
            ..Default::default()
        },
    )
    .map_err(|e| {
        no_device(
            wanted,
            vec![],
            format!(
                "creating a Vulkan instance failed, usually no driver (ICD) is installed: {}",
                describe(&e)
            ),
        )
    })
}

fn compute_family(p: &PhysicalDevice) -> Option<u32> {
    p.queue_family_properties()
        .iter()
        .position(|q| q.queue_flags.contains(QueueFlags::COMPUTE))
        .map(|i| i as u32)
}

fn info(p: &PhysicalDevice) -> DeviceInfo {
    let props = p.properties();
    DeviceInfo {
        name: props.device_name.clone(),
        kind: props.device_type.into(),
        max_storage_buffer_bytes: props.max_storage_buffer_range as u64,
    }
}

/// Every device with a compute queue, best first.
fn candidates(wanted: &str) -> Result<Vec<(Arc<PhysicalDevice>, u32, DeviceInfo)>, Error> {
    let inst = instance(wanted)?;
    let devices = inst.enumerate_physical_devices().map_err(|e| {
        no_device(
            wanted,
            vec![],
            format!("enumerating Vulkan devices failed: {e} ({e:?})"),
        )
    })?;
    let mut found: Vec<_> = devices
        .filter_map(|p| compute_family(&p).map(|q| (info(&p), p, q)))
        .map(|(i, p, q)| (p, q, i))
        .collect();
    found.sort_by_key(|(_, _, i)| i.kind);
    Ok(found)
}

/// The devices the backend could use, best first (the one
/// [`crate::VulkanBackend::new`] picks is the first).
pub fn devices() -> Result<Vec<DeviceInfo>, Error> {
    Ok(candidates("any Vulkan device with a compute queue")?
        .into_iter()
        .map(|(_, _, i)| i)
        .collect())
}

/// The device name asked for: the argument, else `MICROPROP_VULKAN_DEVICE`.
pub(crate) fn wanted_name(name: Option<&str>) -> Option<String> {
    match name {
        Some(n) => Some(n.to_string()),
        None => std::env::var(DEVICE_ENV).ok().filter(|s| !s.is_empty()),
    }
}

impl Context {
    /// The shared context for a device: `name` matches a device whose name
    /// contains it (case-insensitive); `None` picks the preferred device.
    pub(crate) fn get(name: Option<&str>) -> Result<Arc<Context>, Error> {
        type Cache = Mutex<Vec<(Option<String>, Arc<Context>)>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
        let key = name.map(str::to_lowercase);
        let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, c)) = cache.iter().find(|(k, _)| *k == key) {
            return Ok(c.clone());
        }
        let ctx = Arc::new(Context::create(name)?);
        cache.push((key, ctx.clone()));
        Ok(ctx)
    }

    fn create(name: Option<&str>) -> Result<Context, Error> {
        let wanted = match name {
            Some(n) => format!("a Vulkan device with a compute queue whose name contains {n:?}"),
            None => "any Vulkan device with a compute queue".to_string(),
        };
        let all = candidates(&wanted)?;
        let names: Vec<String> = all.iter().map(|(_, _, i)| i.name.clone()).collect();
        let chosen = match name {
            Some(n) => {
                let n = n.to_lowercase();
                all.into_iter()
                    .find(|(_, _, i)| i.name.to_lowercase().contains(&n))
            }
            None => all.into_iter().next(),
        };
        let Some((physical, family, info)) = chosen else {
            let reason = if names.is_empty() {
                "no device with a compute queue"
            } else {
                "no device matched"
            };
            return Err(no_device(&wanted, names, reason));
        };
        let (device, mut queues) = Device::new(
            physical,
            DeviceCreateInfo {
                queue_create_infos: vec![QueueCreateInfo {
                    queue_family_index: family,
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .map_err(|e| Error::vk("creating the device", e))?;
        let queue = queues.next().ok_or_else(|| Error::Vulkan {
            during: "creating the device",
            message: "no queue returned".into(),
        })?;
        let memory = Arc::new(StandardMemoryAllocator::new_default(device.clone()));
        let descriptors = Arc::new(StandardDescriptorSetAllocator::new(
            device.clone(),
            Default::default(),
        ));
        let commands = Arc::new(StandardCommandBufferAllocator::new(
            device.clone(),
            Default::default(),
        ));
        let storage = DescriptorSetLayoutBinding {
            stages: ShaderStages::COMPUTE,
            ..DescriptorSetLayoutBinding::descriptor_type(DescriptorType::StorageBuffer)
        };
        let set_layout = DescriptorSetLayout::new(
            device.clone(),
            DescriptorSetLayoutCreateInfo {
                bindings: BTreeMap::from([(0, storage.clone()), (1, storage)]),
                ..Default::default()
            },
        )
        .map_err(|e| Error::vk("creating the descriptor set layout", e))?;
        let layout = PipelineLayout::new(
            device.clone(),
            PipelineLayoutCreateInfo {
                set_layouts: vec![set_layout.clone()],
                push_constant_ranges: vec![PushConstantRange {
                    stages: ShaderStages::COMPUTE,
                    offset: 0,
                    size: 4,
                }],
                ..Default::default()
            },
        )
        .map_err(|e| Error::vk("creating the pipeline layout", e))?;
        Ok(Context {
            info,
            device,
            queue,
            memory,
            descriptors,
            commands,
            set_layout,
            layout,
            pipelines: Mutex::new(vec![None; Kernel::COUNT]),
        })
    }

    /// The pipeline for a kernel, compiled on first use.
    pub(crate) fn pipeline(&self, kernel: Kernel) -> Result<Arc<ComputePipeline>, Error> {
        let mut pipes = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = &pipes[kernel as usize] {
            return Ok(p.clone());
        }
        let words = vulkano::shader::spirv::bytes_to_words(kernel.spirv())
            .map_err(|e| Error::vk("reading SPIR-V", e))?;
        // SAFETY: the words are glslc's output for our own kernels.
        let module =
            unsafe { ShaderModule::new(self.device.clone(), ShaderModuleCreateInfo::new(&words)) }
                .map_err(|e| Error::Vulkan {
                    during: "creating a shader module",
                    message: format!("{}: {e:?}", kernel.name()),
                })?;
        let entry = module.entry_point("main").ok_or_else(|| Error::Vulkan {
            during: "creating a shader module",
            message: format!("{}: no entry point `main`", kernel.name()),
        })?;
        let pipeline = ComputePipeline::new(
            self.device.clone(),
            None,
            ComputePipelineCreateInfo::stage_layout(
                PipelineShaderStageCreateInfo::new(entry),
                self.layout.clone(),
            ),
        )
        .map_err(|e| Error::Vulkan {
            during: "creating a compute pipeline",
            message: format!("{}: {e:?}", kernel.name()),
        })?;
        pipes[kernel as usize] = Some(pipeline.clone());
        Ok(pipeline)
    }
}
