//! The docs' ProvisionNewDevices: one sub-orchestration per device, in parallel, each
//! waiting for the device to acknowledge its download.

use durable_runtime::prelude::*;

/// Supplies the devices to provision when the caller gives none.
#[activity_trigger(name = "GetNewDeviceIds")]
pub async fn get_new_device_ids() -> Vec<String> {
    vec![
        "device-1".to_owned(),
        "device-2".to_owned(),
        "device-3".to_owned(),
    ]
}

/// Builds the installation package of a device and returns where it can be downloaded.
#[activity_trigger(name = "CreateInstallationPackage")]
pub async fn create_installation_package(device_id: String) -> String {
    format!("https://packages.example/{device_id}.zip")
}

/// Tells the device where its package is.
#[activity_trigger(name = "SendPackageUrlToDevice")]
pub async fn send_package_url_to_device((device_id, url): (String, String)) -> String {
    format!("sent {url} to {device_id}")
}

/// Provisions one device: package, notify, wait for `DownloadCompletedAck`.
#[orchestration_trigger(name = "DeviceProvisioningOrchestration")]
pub async fn device_provisioning(
    ctx: OrchestrationContext,
    device_id: String,
) -> Result<String, DurableError> {
    let url: String = ctx
        .call_activity("CreateInstallationPackage", &device_id)
        .await?;
    let _: String = ctx
        .call_activity("SendPackageUrlToDevice", (&device_id, &url))
        .await?;
    let _ack: Value = ctx.wait_for_external_event("DownloadCompletedAck").await?;
    Ok(device_id)
}

/// Provisions the given devices (or new ones) in parallel; child ids are
/// `{parentId}-{deviceId}`, so each child can be sent its acknowledgement.
#[orchestration_trigger(name = "ProvisionNewDevices")]
pub async fn provision_new_devices(
    ctx: OrchestrationContext,
    device_ids: Option<Vec<String>>,
) -> Result<Vec<String>, DurableError> {
    let device_ids = match device_ids {
        Some(ids) => ids,
        None => ctx.call_activity("GetNewDeviceIds", ()).await?,
    };
    let parent = ctx.instance_id();
    let children = device_ids.iter().map(|device_id| {
        ctx.call_sub_orchestrator_with_instance_id::<String>(
            "DeviceProvisioningOrchestration",
            &format!("{parent}-{device_id}"),
            device_id,
        )
    });
    when_all(children).await.into_iter().collect()
}
