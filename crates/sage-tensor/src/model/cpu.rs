//! The one place that decides which CPU kernels run, from the features the
//! CPU reports at run time.
//!
//! The binary is built for baseline x86-64, and the machines sage runs on
//! differ (AVX2 only, AVX-512 with or without BF16, AMX): each kernel is
//! compiled for its own feature set and chosen here, once per process.
//! `sage paths` prints the choice ([`kernel_report`]).

use std::sync::OnceLock;

/// A packed matrix-product micro-kernel (see `packed_affine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// f32, 8x48 tile in 24 zmm accumulators (AVX-512F).
    F32Avx512,
    /// f32, 6x16 tile in 12 ymm accumulators (AVX2 + FMA).
    F32Avx2,
    /// bf16 pairs, 16x32 tile on AMX tiles (TDPBF16PS), f32 accumulation.
    Bf16Amx,
    /// bf16 pairs, 8x48 tile with VDPBF16PS (AVX512-BF16), f32 accumulation.
    Bf16Avx512,
    /// bf16 pairs widened to f32 in plain Rust, 4x16 tile: runs anywhere.
    Bf16Portable,
}

impl Kernel {
    /// Every kernel, best first within each dtype.
    pub const ALL: [Kernel; 5] = [
        Kernel::F32Avx512,
        Kernel::F32Avx2,
        Kernel::Bf16Amx,
        Kernel::Bf16Avx512,
        Kernel::Bf16Portable,
    ];

    /// A short name for reports and bench output.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::F32Avx512 => "f32 avx512 8x48",
            Kernel::F32Avx2 => "f32 avx2+fma 6x16",
            Kernel::Bf16Amx => "bf16 amx 16x32",
            Kernel::Bf16Avx512 => "bf16 avx512-bf16 8x48",
            Kernel::Bf16Portable => "bf16 portable 4x16",
        }
    }

    /// The CPU features the kernel needs, as /proc/cpuinfo spells them.
    pub fn needs(self) -> &'static str {
        match self {
            Kernel::F32Avx512 => "avx512f",
            Kernel::F32Avx2 => "avx2 fma",
            Kernel::Bf16Amx => "amx_tile amx_bf16 (and the kernel's permission to use tile data)",
            Kernel::Bf16Avx512 => "avx512f avx512_bf16",
            Kernel::Bf16Portable => "nothing",
        }
    }

    /// Whether this CPU (and OS) can run the kernel.
    pub fn supported(self) -> bool {
        let f = features();
        match self {
            Kernel::F32Avx512 => f.avx512f,
            Kernel::F32Avx2 => f.avx2_fma,
            Kernel::Bf16Amx => f.amx_bf16,
            Kernel::Bf16Avx512 => f.avx512f && f.avx512_bf16,
            Kernel::Bf16Portable => true,
        }
    }
}

/// The f32 kernel every f32 product on the CPU uses; `None` means the
/// general path (`gemm`, through matrixmultiply).
pub(crate) fn f32_kernel() -> Option<Kernel> {
    [Kernel::F32Avx512, Kernel::F32Avx2]
        .into_iter()
        .find(|k| k.supported())
}

/// The bf16 kernel every bf16 product on the CPU uses (the portable one
/// runs everywhere).
pub(crate) fn bf16_kernel() -> Kernel {
    [Kernel::Bf16Amx, Kernel::Bf16Avx512]
        .into_iter()
        .find(|k| k.supported())
        .unwrap_or(Kernel::Bf16Portable)
}

/// Whether the 8-lane elementwise kernels (`fastmath`) can run.
pub(crate) fn avx2_fma() -> bool {
    features().avx2_fma
}

/// What runs on this machine, for `sage paths` and the benches.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KernelReport {
    /// The f32 product kernel (or the general fallback).
    pub f32: &'static str,
    /// The bf16 product kernel.
    pub bf16: &'static str,
    /// The elementwise kernels (exp, GELU, softmax).
    pub elementwise: &'static str,
    /// The features detected that the choice depends on.
    pub cpu_flags: Vec<&'static str>,
}

/// The kernels chosen on this machine.
pub fn kernel_report() -> KernelReport {
    let f = features();
    let flags = [
        ("avx2", f.avx2_fma),
        ("fma", f.avx2_fma),
        ("avx512f", f.avx512f),
        ("avx512_bf16", f.avx512_bf16),
        ("amx_bf16", f.amx_bf16),
    ];
    KernelReport {
        f32: f32_kernel().map_or("f32 generic (matrixmultiply)", Kernel::name),
        bf16: bf16_kernel().name(),
        elementwise: if f.avx2_fma { "avx2+fma" } else { "portable" },
        cpu_flags: flags
            .iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect(),
    }
}

/// The features detected once per process.
#[derive(Debug, Clone, Copy, Default)]
struct Features {
    avx2_fma: bool,
    avx512f: bool,
    avx512_bf16: bool,
    /// AMX-TILE and AMX-BF16, enabled by the OS, and this process granted
    /// the tile-data state.
    amx_bf16: bool,
}

fn features() -> Features {
    static FEATURES: OnceLock<Features> = OnceLock::new();
    *FEATURES.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Features {
    use std::arch::is_x86_feature_detected as has;
    Features {
        avx2_fma: has!("avx2") && has!("fma"),
        avx512f: has!("avx512f"),
        avx512_bf16: has!("avx512bf16"),
        amx_bf16: amx::available(),
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Features {
    Features::default()
}

/// AMX detection: `is_x86_feature_detected!("amx-bf16")` is not stable, so
/// CPUID and XCR0 are read directly; Linux also makes each process ask for
/// the 8 KiB of tile-data state before its first tile instruction.
#[cfg(target_arch = "x86_64")]
mod amx {
    /// CPUID.(EAX=7,ECX=0):EDX bits for AMX-BF16 and AMX-TILE.
    const AMX_BF16: u32 = 1 << 22;
    const AMX_TILE: u32 = 1 << 24;
    /// XCR0 bits for XTILECFG and XTILEDATA.
    const XCR0_TILE: u64 = (1 << 17) | (1 << 18);

    pub(super) fn available() -> bool {
        use std::arch::x86_64::__cpuid_count;
        let leaf0 = __cpuid_count(0, 0);
        if leaf0.eax < 7 {
            return false;
        }
        let leaf7 = __cpuid_count(7, 0);
        if leaf7.edx & (AMX_BF16 | AMX_TILE) != AMX_BF16 | AMX_TILE {
            return false;
        }
        // OSXSAVE (CPUID.1:ECX bit 27) says XGETBV may be executed.
        if __cpuid_count(1, 0).ecx & (1 << 27) == 0 {
            return false;
        }
        // SAFETY: XGETBV is available, checked through OSXSAVE just above.
        let xcr0 = unsafe { xgetbv0() };
        xcr0 & XCR0_TILE == XCR0_TILE && request_tile_permission()
    }

    /// XCR0 through XGETBV (ECX = 0).
    ///
    /// # Safety
    /// The CPU must report OSXSAVE.
    unsafe fn xgetbv0() -> u64 {
        let (lo, hi): (u32, u32);
        // SAFETY: the caller checked OSXSAVE; XGETBV only reads a register.
        unsafe {
            std::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") hi,
                options(nomem, nostack, preserves_flags));
        }
        (u64::from(hi) << 32) | u64::from(lo)
    }

    /// `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`: without it the
    /// first tile instruction kills the process.
    #[cfg(target_os = "linux")]
    fn request_tile_permission() -> bool {
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: arch_prctl with this request only changes the permission
        // set of this process; it reads and writes no memory of ours.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            )
        };
        rc == 0
    }

    /// Other systems: AMX stays off rather than risk a fault.
    #[cfg(not(target_os = "linux"))]
    fn request_tile_permission() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chosen_kernels_are_supported_and_the_report_names_them() {
        let report = kernel_report();
        if let Some(k) = f32_kernel() {
            assert!(k.supported());
            assert_eq!(report.f32, k.name());
        } else {
            assert!(report.f32.contains("generic"));
        }
        assert!(bf16_kernel().supported());
        assert_eq!(report.bf16, bf16_kernel().name());
        // The best supported kernel wins: nothing better is skipped.
        if Kernel::F32Avx512.supported() {
            assert_eq!(f32_kernel(), Some(Kernel::F32Avx512));
        }
        if Kernel::Bf16Avx512.supported() && !Kernel::Bf16Amx.supported() {
            assert_eq!(bf16_kernel(), Kernel::Bf16Avx512);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn detection_agrees_with_the_standard_library() {
        use std::arch::is_x86_feature_detected as has;
        assert_eq!(Kernel::F32Avx512.supported(), has!("avx512f"));
        assert_eq!(Kernel::F32Avx2.supported(), has!("avx2") && has!("fma"));
        assert_eq!(
            Kernel::Bf16Avx512.supported(),
            has!("avx512f") && has!("avx512bf16")
        );
    }
}
