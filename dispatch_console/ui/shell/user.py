"""Who is at this console: a name and a role, asked once and remembered (QSettings)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from dispatch_console.domain.events import ROLES


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"


def remembered_user(settings: QSettings) -> User | None:
    name = str(settings.value("user/name", "") or "").strip()
    role = str(settings.value("user/role", "") or "").strip()
    if name and role in ROLES:
        return User(name, role)
    return None


def remember_user(settings: QSettings, user: User) -> None:
    settings.setValue("user/name", user.name)
    settings.setValue("user/role", user.role)


class UserDialog(QDialog):
    """Asks for the user's name and role; OK only with a name."""

    def __init__(self, parent: QWidget | None = None, current: User | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Who is at this console?")
        self.name = QLineEdit(current.name if current else "")
        self.name.setPlaceholderText("e.g. Dispatcher A. Moreno")
        self.role = QComboBox()
        self.role.addItems(ROLES)
        if current is not None:
            self.role.setCurrentText(current.role)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.name.textChanged.connect(self._update_ok)
        form = QFormLayout(self)
        hint = QLabel("Every action you take is recorded under this name.")
        hint.setProperty("role", "muted")
        form.addRow(hint)
        form.addRow("Name", self.name)
        form.addRow("Role", self.role)
        form.addRow(self.buttons)
        self._update_ok()

    def _update_ok(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(bool(self.name.text().strip()))

    def user(self) -> User:
        return User(self.name.text().strip(), self.role.currentText())


def ask_user(settings: QSettings, parent: QWidget | None = None) -> User | None:
    """The remembered user, or ask (once); None if the dialog is cancelled."""
    user = remembered_user(settings)
    if user is not None:
        return user
    dialog = UserDialog(parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    user = dialog.user()
    remember_user(settings, user)
    return user
