//! `[application.trigger.mqtt]` and `[[trigger.mqtt]]`, with the keys of
//! Spin's MQTT trigger plugin (spinkube/spin-trigger-mqtt): the broker and
//! login every MQTT trigger shares, and each trigger's topic and QoS. The
//! plugin writes numbers as strings (`qos = "1"`); integers are accepted too.

use toml::de::DeValue;

use crate::component::template;
use crate::mqtt::{Qos, check_topic_filter};
use crate::parse::{Draft, TemplateUse};
use crate::raw::{Ctx, Table, Value, join};
use crate::span::Loc;

/// The keys `[application.trigger.mqtt]` takes.
const SETTINGS_KEYS: &[&str] = &["address", "username", "password", "keep_alive_interval"];

/// What one `[[trigger.mqtt]]` says besides its component.
pub(crate) struct MqttEntry {
    pub topic: String,
    pub qos: Qos,
    pub address: Option<String>,
    /// Where the `topic` key is.
    pub loc: Loc,
}

/// Reads `[application.trigger.mqtt]` into `draft.mqtt_settings`. Every key
/// is optional here: a trigger without an address is reported when the
/// manifest is assembled.
pub(crate) fn parse_settings(ctx: &mut Ctx<'_>, value: &Value<'_>, draft: &mut Draft) {
    let key = "application.trigger.mqtt";
    let Some(t) = ctx.table(value, key, "a table ([application.trigger.mqtt])") else {
        return;
    };
    ctx.check_keys(t, key, SETTINGS_KEYS);
    let settings = &mut draft.mqtt_settings;
    if let Some(v) = t.get("address") {
        settings.address = address(ctx, v, &join(key, "address"), &mut draft.templates);
    }
    for (name, slot) in [
        ("username", &mut settings.username),
        ("password", &mut settings.password),
    ] {
        if let Some(v) = t.get(name) {
            let k = join(key, name);
            *slot = ctx.string(v, &k);
            if let Some(s) = slot.as_deref() {
                let loc = ctx.loc(&v.span());
                template(ctx, &mut draft.templates, s, loc, &k);
            }
        }
    }
    if let Some(v) = t.get("keep_alive_interval") {
        let k = join(key, "keep_alive_interval");
        if let Some(n) = number(ctx, v, &k) {
            match u16::try_from(n) {
                Ok(secs) => settings.keep_alive = secs,
                Err(_) => {
                    let error = ctx
                        .error(
                            &v.span(),
                            &k,
                            format!("keep-alive interval {n} is out of range 0-65535 (seconds)"),
                        )
                        .with_hint("e.g. `keep_alive_interval = \"30\"`; 0 turns keep-alive off");
                    ctx.push(error);
                }
            }
        }
    }
}

/// Reads a `[[trigger.mqtt]]` entry's `topic`, `qos` and (skiff.toml)
/// `address`, checking the topic unless it has a template (checked once
/// expanded, when the trigger loads).
pub(crate) fn parse_entry(
    ctx: &mut Ctx<'_>,
    value: &Value<'_>,
    table: &Table<'_>,
    key: &str,
    templates: &mut Vec<TemplateUse>,
) -> Option<MqttEntry> {
    let mut qos = Some(Qos::AtMostOnce);
    if let Some(v) = table.get("qos") {
        qos = parse_qos(ctx, v, &join(key, "qos"));
    }
    let mut address_ok = true;
    let mut own_address = None;
    if let Some(v) = table.get("address") {
        own_address = address(ctx, v, &join(key, "address"), templates);
        address_ok = own_address.is_some();
    }
    let v = ctx.require(table, &value.span(), key, "topic")?;
    let tkey = join(key, "topic");
    let topic = ctx.non_empty_string(v, &tkey)?;
    let vloc = ctx.loc(&v.span());
    template(ctx, templates, &topic, vloc, &tkey);
    if !topic.contains("{{")
        && let Err(message) = check_topic_filter(&topic)
    {
        let error = ctx.error(&v.span(), &tkey, message).with_hint(
            "MQTT topic filters: `+` matches one level, a final `#` the rest \
             (`sensors/+/temperature`, `sensors/#`)",
        );
        ctx.push(error);
        return None;
    }
    let name_span = table
        .get_key_value("topic")
        .map_or(v.span(), |(k, _)| k.span());
    if !address_ok {
        return None;
    }
    Some(MqttEntry {
        topic,
        qos: qos?,
        address: own_address,
        loc: ctx.loc(&name_span),
    })
}

/// `qos = "1"` or `qos = 1`.
fn parse_qos(ctx: &mut Ctx<'_>, v: &Value<'_>, key: &str) -> Option<Qos> {
    let parsed = match v.get_ref() {
        DeValue::String(s) => s.parse::<Qos>(),
        DeValue::Integer(_) => {
            let n = ctx.integer(v, key)?;
            Qos::from_level(n).ok_or_else(|| format!("qos {n} is not 0, 1 or 2"))
        }
        _ => {
            ctx.wrong_type(v, key, "a QoS level: \"0\", \"1\" or \"2\"");
            return None;
        }
    };
    match parsed {
        Ok(qos) => Some(qos),
        Err(message) => {
            let error = ctx.error(&v.span(), key, message).with_hint(
                "0: at most once, 1: at least once (acknowledged once handled), 2: exactly once",
            );
            ctx.push(error);
            None
        }
    }
}

/// A whole number written as an integer or as a string of digits (`"30"`).
fn number(ctx: &mut Ctx<'_>, v: &Value<'_>, key: &str) -> Option<i64> {
    match v.get_ref() {
        DeValue::Integer(_) => ctx.integer(v, key),
        DeValue::String(s) => match s.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                let error = ctx.error(
                    &v.span(),
                    key,
                    format!("expected a whole number of seconds, found {s:?}"),
                );
                ctx.push(error);
                None
            }
        },
        _ => {
            ctx.wrong_type(v, key, "a number of seconds (`\"30\"` or `30`)");
            None
        }
    }
}

/// An `mqtt://` or `mqtts://` address (checked only without templates).
fn address(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    key: &str,
    templates: &mut Vec<TemplateUse>,
) -> Option<String> {
    let address = ctx.non_empty_string(v, key)?;
    let loc = ctx.loc(&v.span());
    template(ctx, templates, &address, loc, key);
    let scheme = address
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase());
    if !address.contains("{{") && !matches!(scheme.as_deref(), Some("mqtt" | "mqtts")) {
        let error = ctx
            .error(
                &v.span(),
                key,
                format!("{address:?} is not an MQTT broker address"),
            )
            .with_hint("write `mqtt://host:port`, or `mqtts://host:port` for TLS");
        ctx.push(error);
        return None;
    }
    Some(address)
}
