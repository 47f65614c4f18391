//! CUDA streams and events for the batch pipeline (csrc/lt_cuda.cpp, compiled when the CUDA
//! headers are found: `cfg(lt_have_cuda)`). Without them a CUDA upload is a plain blocking copy
//! on the compute stream: correct, without the overlap.

use crate::Result;
use tch::Tensor;

#[cfg(lt_have_cuda)]
mod imp {
    use crate::Result;
    use std::ffi::{c_char, c_int, c_void};
    use tch::Tensor;

    extern "C" {
        fn lt_cuda_upload(
            src: *mut c_void,
            device: c_int,
            out: *mut *mut c_void,
            event: *mut *mut c_void,
            err: *mut c_char,
            errlen: usize,
        ) -> c_int;
        fn lt_cuda_event_block(
            event: *mut c_void,
            t: *mut c_void,
            device: c_int,
            err: *mut c_char,
            errlen: usize,
        ) -> c_int;
        fn lt_cuda_event_wait(event: *mut c_void, err: *mut c_char, errlen: usize) -> c_int;
        fn lt_cuda_event_free(event: *mut c_void);
        fn lt_cuda_set_sync_debug(mode: c_int, err: *mut c_char, errlen: usize) -> c_int;
    }

    use crate::ops::call;

    /// An event recorded on the copy stream after an upload.
    pub struct Event {
        raw: *mut c_void,
        tensor: Tensor,
        device: c_int,
    }

    impl Event {
        pub fn block_current(&self) -> Result<()> {
            let t = self.tensor.as_ptr() as *mut c_void;
            call("CUDA event", |e, l| unsafe {
                lt_cuda_event_block(self.raw, t, self.device, e, l)
            })?;
            Ok(())
        }
        pub fn wait_host(&self) -> Result<()> {
            call("CUDA event", |e, l| unsafe {
                lt_cuda_event_wait(self.raw, e, l)
            })?;
            Ok(())
        }
    }

    impl Drop for Event {
        fn drop(&mut self) {
            unsafe { lt_cuda_event_free(self.raw) }
        }
    }

    pub fn upload(host: &Tensor, device: usize) -> Result<(Tensor, Event)> {
        let (mut out, mut ev): (*mut c_void, *mut c_void) =
            (std::ptr::null_mut(), std::ptr::null_mut());
        call("CUDA upload", |e, l| unsafe {
            lt_cuda_upload(
                host.as_ptr() as *mut c_void,
                device as c_int,
                &mut out,
                &mut ev,
                e,
                l,
            )
        })?;
        // SAFETY: the shim returns a heap `at::Tensor*`, owned from here by tch's Tensor.
        let t = unsafe { Tensor::from_ptr(out as *mut _) };
        let event = Event {
            raw: ev,
            tensor: t.shallow_clone(),
            device: device as c_int,
        };
        Ok((t, event))
    }

    pub fn set_sync_debug(mode: i32) -> Result<()> {
        call("CUDA sync debug mode", |e, l| unsafe {
            lt_cuda_set_sync_debug(mode, e, l)
        })?;
        Ok(())
    }
}

#[cfg(not(lt_have_cuda))]
mod imp {
    use crate::{Error, Result};
    use tch::{Device, Tensor};

    /// Without the CUDA shim an upload completes before it returns: nothing to wait for.
    pub struct Event;

    impl Event {
        pub fn block_current(&self) -> Result<()> {
            Ok(())
        }
        pub fn wait_host(&self) -> Result<()> {
            Ok(())
        }
    }

    pub fn upload(host: &Tensor, device: usize) -> Result<(Tensor, Event)> {
        let d = Device::Cuda(device);
        Ok((host.f_to_device_(d, host.kind(), false, false)?, Event))
    }

    pub fn set_sync_debug(mode: i32) -> Result<()> {
        if mode == 0 {
            return Ok(());
        }
        return Err(Error::Cuda(
            "CUDA sync debug mode needs lt-core built with the CUDA headers".into(),
        ));
    }
}

pub use imp::Event;

/// Copies a pinned host tensor to CUDA device `device`: on a copy stream, not waiting, with an
/// event the compute stream waits on before using the result (see [`Event::block_current`]),
/// and that the host waits on before reusing the pinned buffer ([`Event::wait_host`]).
pub fn upload(host: &Tensor, device: usize) -> Result<(Tensor, Event)> {
    imp::upload(host, device)
}

/// CUDA's sync-debug mode (`torch.cuda.set_sync_debug_mode`): 0 off, 1 warn, 2 error on any
/// call that synchronises the host with the device.
pub fn set_sync_debug(mode: i32) -> Result<()> {
    imp::set_sync_debug(mode)
}
