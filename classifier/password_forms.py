"""Django's forms that set a new password, each revoking the user's API tokens when it saves: the password change,
the reset link's form and the admin's "change password" form. A new password is what someone does when they fear
another knows the old one, and whoever knew it could have made tokens that would otherwise outlive it. Saving a
form is the one place that means "a person chose a new password": a hash Django upgrades at log-in revokes nothing.
"""

from django.contrib.auth import forms

from classifier import services


class RevokesApiTokens:
    revoked_tokens = 0  # how many the save revoked, for the page after to mention

    def save(self, commit=True):
        user = super().save(commit=commit)
        if commit:
            self.revoked_tokens = services.api_tokens_revoke_all(user=user)
        return user


class PasswordChangeForm(RevokesApiTokens, forms.PasswordChangeForm):
    pass


class SetPasswordForm(RevokesApiTokens, forms.SetPasswordForm):
    pass


class AdminPasswordChangeForm(RevokesApiTokens, forms.AdminPasswordChangeForm):
    """For a UserAdmin's `change_password_form`."""
