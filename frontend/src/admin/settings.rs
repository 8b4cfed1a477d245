//! Settings › Web terminal (the maximum session time, the idle timeout,
//! recordings and how long they are kept) and the users:
//! add, make or remove admin, new password, remove.

use super::{Forms, Listed, action_button, edit_row, edit_toggle, loaded, remove_button, send, FormError};
use crate::{encode, get_json};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use serde_json::json;
use shared::api::{ApplicationSettings, NewUser, SettingsUpdate, UpdateUser, UserJson};

/// Settings › Web terminal: the maximum session time, the idle timeout,
/// recording, retention.
#[component]
pub(super) fn SettingsSection(settings: ApplicationSettings) -> impl IntoView {
    let max_time = RwSignal::new(settings.terminal_max_session_time.to_string());
    let idle_time = RwSignal::new(settings.terminal_idle_timeout.to_string());
    let recording = RwSignal::new(settings.terminal_recording);
    let retention = RwSignal::new(settings.recording_retention_days.to_string());
    let (saved, set_saved) = signal(false);
    let form = Forms::new().form();
    let save = move |ev: SubmitEvent| {
        ev.prevent_default();
        set_saved.set(false);
        let Ok(seconds) = max_time.get_untracked().trim().parse::<u64>() else {
            return form.fail("The maximum session time is a whole number of seconds.".into());
        };
        let Ok(idle) = idle_time.get_untracked().trim().parse::<u64>() else {
            return form.fail("The idle timeout is a whole number of seconds.".into());
        };
        let Ok(days) = retention.get_untracked().trim().parse::<u64>() else {
            return form.fail("Recordings are kept a whole number of days.".into());
        };
        let update = SettingsUpdate {
            terminal_max_session_time: Some(seconds),
            terminal_idle_timeout: Some(idle),
            terminal_recording: Some(recording.get_untracked()),
            recording_retention_days: Some(days),
        };
        send("PUT", "/api/v4/application/settings".into(), Some(json!(update)), form, move |now: ApplicationSettings| {
            // Show what the server kept, which is what sessions will get.
            max_time.set(now.terminal_max_session_time.to_string());
            idle_time.set(now.terminal_idle_timeout.to_string());
            recording.set(now.terminal_recording);
            retention.set(now.recording_retention_days.to_string());
            set_saved.set(true);
        });
    };
    view! {
        <section data-testid="admin-settings">
            <h2>"Settings › Web terminal"</h2>
            <form on:submit=save>
                {number_field("Maximum session time (seconds, 0 = no limit)", "terminal_max_session_time", max_time, set_saved)}
                {number_field(
                    "Close idle terminals after (seconds without keystrokes or output, 0 = never)",
                    "terminal_idle_timeout",
                    idle_time,
                    set_saved,
                )}
                <label class="check">
                    <input type="checkbox" name="terminal_recording" bind:checked=recording on:change=move |_| set_saved.set(false)/>
                    "Record terminal sessions (output only, never keystrokes)"
                </label>
                {number_field("Keep recordings for (days, 0 = forever)", "recording_retention_days", retention, set_saved)}
                <button type="submit" class="primary">"Save changes"</button>
            </form>
            {move || saved.get().then(|| view! { <p class="notice" data-testid="settings-saved">"Saved."</p> })}
            <FormError form=form/>
        </section>
    }
}

/// A whole-number setting's field; typing in it clears "Saved." (which is
/// about the value saved, not one being typed).
fn number_field(label: &'static str, name: &'static str, value: RwSignal<String>, set_saved: WriteSignal<bool>) -> impl IntoView {
    view! {
        <label>
            {label}
            <input type="number" name=name min="0" step="1" required=true bind:value=value on:input=move |_| set_saved.set(false)/>
        </label>
    }
}

/// Users: who they are, whether they are admins, each with the buttons
/// that change that, set a password or remove the user; and a form for a
/// new one. The form and the rows' buttons are one group.
#[component]
pub(super) fn UsersSection() -> impl IntoView {
    let users: Listed<UserJson> = LocalResource::new(|| get_json("/api/v4/users"));
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let admin = RwSignal::new(false);
    let forms = Forms::new();
    let form = forms.form();
    let add = move |ev: SubmitEvent| {
        ev.prevent_default();
        let user = NewUser { username: username.get_untracked(), password: password.get_untracked(), admin: admin.get_untracked() };
        send("POST", "/api/v4/users".into(), Some(json!(user)), form, move |_: UserJson| {
            username.set(String::new());
            password.set(String::new());
            admin.set(false);
            users.refetch();
        });
    };
    view! {
        <section data-testid="admin-users">
            <h2>"Users"</h2>
            {loaded(users, move |list| view! {
                <table>
                    <thead><tr><th>"Username"</th><th>"Admin"</th><th></th></tr></thead>
                    <tbody>
                        {list.into_iter().map(|user| view! { <UserRow user=user users=users forms=forms/> }).collect_view()}
                    </tbody>
                </table>
            })}
            <form on:submit=add>
                <label>"Username" <input name="username" autocomplete="off" required=true bind:value=username/></label>
                <label>
                    "Password"
                    <input name="password" type="password" autocomplete="new-password" required=true bind:value=password/>
                </label>
                <label class="check"><input name="admin" type="checkbox" bind:checked=admin/> "Admin"</label>
                <button type="submit">"Add user"</button>
            </form>
            <FormError form=form/>
        </section>
    }
}

/// The toggle-admin button of a user who `is_admin`: its label, and what it
/// sends (the other flag; the password stays).
fn admin_toggle(is_admin: bool) -> (&'static str, UpdateUser) {
    let label = if is_admin { "Remove admin" } else { "Make admin" };
    (label, UpdateUser { password: None, admin: Some(!is_admin) })
}

/// One user: a row with Make/Remove admin, Set password (which opens the
/// password form in a row below) and Remove. The app refuses an admin's
/// taking their own admin flag or removing themselves: that shows beside
/// the button.
#[component]
pub(super) fn UserRow(user: UserJson, users: Listed<UserJson>, forms: Forms) -> impl IntoView {
    let url = format!("/api/v4/users/{}", encode(&user.username));
    let setting_password = RwSignal::new(false);
    let password = RwSignal::new(String::new());
    // "Password changed." is about the last password saved: it goes when
    // the form opens again.
    let (changed, set_changed) = signal(false);
    let form = forms.form();
    let save = {
        let url = url.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            let update = UpdateUser { password: Some(password.get_untracked()), admin: None };
            // The list shows no passwords: nothing in it to load again.
            send("PUT", url.clone(), Some(json!(update)), form, move |_: UserJson| {
                password.set(String::new());
                setting_password.set(false);
                set_changed.set(true);
            });
        }
    };
    let (toggle_label, toggle_update) = admin_toggle(user.is_admin);
    let toggle_url = url.clone();
    let toggle_admin = move |form| send("PUT", toggle_url.clone(), Some(json!(toggle_update)), form, move |_: UserJson| users.refetch());
    view! {
        <tr data-testid="user-row" data-username=user.username.clone()>
            <td>{user.username.clone()}</td>
            <td>{if user.is_admin { "yes" } else { "no" }}</td>
            <td class="actions">
                <div class="bar">
                    {action_button("toggle-admin", toggle_label, forms, toggle_admin)}
                    {edit_toggle("set-password-toggle", "Set password", setting_password, move || set_changed.set(false))}
                    {remove_button("remove-user", url, forms, move || users.refetch())}
                    {move || changed.get().then(|| view! { <p class="notice" data-testid="password-changed">"Password changed."</p> })}
                </div>
            </td>
        </tr>
        {edit_row(setting_password, "set-password", save, form, move || view! {
            <label>
                "New password"
                <input name="new_password" type="password" autocomplete="new-password" required=true bind:value=password/>
            </label>
        })}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_toggle_sends_the_other_flag_only() {
        assert_eq!(admin_toggle(false), ("Make admin", UpdateUser { password: None, admin: Some(true) }));
        assert_eq!(admin_toggle(true), ("Remove admin", UpdateUser { password: None, admin: Some(false) }));
    }
}
